// The large view of a page's images: a list marked [data-lightbox] whose links
// (a[data-lightbox-item]) point at the full-size files, and one <dialog data-lightbox-dialog>
// the server renders with its translated labels. Without JavaScript the links open the files.
//
// Mouse: click an image to open, double-click or the zoom button to zoom, drag to pan.
// Keyboard: Enter opens, ArrowLeft/ArrowRight move, + and - zoom, Escape closes; Tab stays
// inside the dialog and focus goes back to the current image's thumbnail on close.
// Touch: swipe left/right moves, pinch or double-tap zooms, drag pans a zoomed image.

const MAX_SCALE = 4;
const ZOOM_STEP = 2.5;
const SWIPE_PX = 50;
const DOUBLE_TAP_MS = 300;

const dialog = document.querySelector("[data-lightbox-dialog]");
const list = document.querySelector("[data-lightbox]");
if (dialog && list && typeof dialog.showModal === "function") {
  bind(dialog, [...list.querySelectorAll("a[data-lightbox-item]")]);
}

function bind(dialog, links) {
  const part = (name) => dialog.querySelector(`[data-lightbox-${name}]`);
  const image = part("image");
  const stage = part("stage");
  const counter = part("counter");
  const caption = part("caption");
  const demo = part("demo");
  const zoomButton = part("zoom");
  const prev = part("prev");
  const next = part("next");
  const close = part("close");
  const view = { index: 0, scale: 1, x: 0, y: 0 };
  const pointers = new Map();
  let gesture = null;
  let lastTap = null;

  prev.hidden = next.hidden = links.length < 2;

  // The demo badge sits on the picture's own corner, inside the letterbox object-fit leaves.
  function placeBadge() {
    const width = stage.clientWidth;
    const height = stage.clientHeight;
    if (!image.naturalWidth || !width) return;
    const fit = Math.min(width / image.naturalWidth, height / image.naturalHeight);
    demo.style.left = `${(width - image.naturalWidth * fit) / 2 + 8}px`;
    demo.style.top = `${(height - image.naturalHeight * fit) / 2 + 8}px`;
  }
  image.addEventListener("load", placeBadge);
  window.addEventListener("resize", placeBadge);

  function render() {
    image.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
    const zoomed = view.scale > 1;
    stage.classList.toggle("zoomed", zoomed);
    zoomButton.setAttribute("aria-pressed", String(zoomed));
    zoomButton.textContent = zoomed ? dialog.dataset.zoomOut : dialog.dataset.zoomIn;
  }

  function zoomTo(scale) {
    view.scale = Math.min(MAX_SCALE, Math.max(1, scale));
    if (view.scale === 1) view.x = view.y = 0;
    render();
  }

  function show(index) {
    view.index = (index + links.length) % links.length;
    const link = links[view.index];
    const thumb = link.querySelector("img");
    image.src = link.getAttribute("href");
    image.alt = thumb ? thumb.alt : "";
    demo.hidden = !link.hasAttribute("data-synthetic");
    counter.textContent = dialog.dataset.counter
      .replace("{n}", String(view.index + 1))
      .replace("{total}", String(links.length));
    // The provenance under the thumbnail, copied as nodes (no markup is re-parsed).
    const figcaption = link.closest("figure")?.querySelector("figcaption");
    caption.replaceChildren(...(figcaption ? [...figcaption.childNodes].map((n) => n.cloneNode(true)) : []));
    zoomTo(1);
  }

  function open(index) {
    show(index);
    dialog.showModal();
    placeBadge();
    document.documentElement.classList.add("lightbox-open");
    close.focus();
  }

  links.forEach((link, index) => {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      open(index);
    });
  });

  dialog.addEventListener("close", () => {
    document.documentElement.classList.remove("lightbox-open");
    pointers.clear();
    gesture = null;
    links[view.index].focus();
  });
  close.addEventListener("click", () => dialog.close());
  prev.addEventListener("click", () => show(view.index - 1));
  next.addEventListener("click", () => show(view.index + 1));
  zoomButton.addEventListener("click", () => zoomTo(view.scale > 1 ? 1 : ZOOM_STEP));
  // A click on the dialog's own dark ground (not the picture's stage) closes it.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });

  dialog.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft" && links.length > 1) show(view.index - 1);
    else if (event.key === "ArrowRight" && links.length > 1) show(view.index + 1);
    else if (event.key === "+" || event.key === "=") zoomTo(view.scale * 1.5);
    else if (event.key === "-") zoomTo(view.scale / 1.5);
    else if (event.key === "Tab") trapTab(event);
    else return;
    if (event.key !== "Tab") event.preventDefault();
  });

  function trapTab(event) {
    const focusable = [...dialog.querySelectorAll("button, a[href]")].filter((el) => !el.hidden && el.offsetParent !== null);
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      first.focus();
    }
  }

  stage.addEventListener("dblclick", (event) => {
    event.preventDefault();
    zoomTo(view.scale > 1 ? 1 : ZOOM_STEP);
  });
  stage.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomTo(view.scale * (event.deltaY < 0 ? 1.2 : 1 / 1.2));
  }, { passive: false });

  const distance = () => {
    const [a, b] = [...pointers.values()];
    return Math.hypot(a.x - b.x, a.y - b.y) || 1;
  };

  stage.addEventListener("pointerdown", (event) => {
    try {
      stage.setPointerCapture(event.pointerId);
    } catch {
      // A pointer that is no longer active cannot be captured; the gesture still works.
    }
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size === 2) {
      gesture = { kind: "pinch", distance: distance(), scale: view.scale };
    } else if (pointers.size === 1) {
      gesture = { kind: "drag", startX: event.clientX, startY: event.clientY, lastX: event.clientX, lastY: event.clientY,
                  time: event.timeStamp, moved: false };
    }
    stage.classList.add("gesturing");
  });

  stage.addEventListener("pointermove", (event) => {
    if (!pointers.has(event.pointerId) || !gesture) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (gesture.kind === "pinch" && pointers.size === 2) {
      zoomTo(gesture.scale * (distance() / gesture.distance));
    } else if (gesture.kind === "drag") {
      if (Math.hypot(event.clientX - gesture.startX, event.clientY - gesture.startY) > 10) gesture.moved = true;
      if (view.scale > 1) {
        view.x += event.clientX - gesture.lastX;
        view.y += event.clientY - gesture.lastY;
        render();
      }
      gesture.lastX = event.clientX;
      gesture.lastY = event.clientY;
    }
  });

  function release(event) {
    if (!pointers.delete(event.pointerId)) return;
    if (pointers.size) return;  // a finger is still down: the gesture goes on
    stage.classList.remove("gesturing");
    const done = gesture;
    gesture = null;
    if (!done || done.kind !== "drag") return;
    const dx = event.clientX - done.startX;
    const dy = event.clientY - done.startY;
    if (view.scale === 1 && Math.abs(dx) > SWIPE_PX && Math.abs(dx) > Math.abs(dy) && links.length > 1) {
      show(view.index + (dx < 0 ? 1 : -1));
    } else if (!done.moved && event.pointerType !== "mouse") {
      // A double tap zooms (a mouse has dblclick for that).
      if (lastTap && event.timeStamp - lastTap < DOUBLE_TAP_MS) {
        zoomTo(view.scale > 1 ? 1 : ZOOM_STEP);
        lastTap = null;
      } else {
        lastTap = event.timeStamp;
      }
    }
  }
  stage.addEventListener("pointerup", release);
  stage.addEventListener("pointercancel", release);
}
