// Classify page: camera capture (getUserMedia) and shrinking big photos in the browser
// before upload. Without JavaScript the plain file input (with capture=environment) works.
const MAX_SIDE = 1600;
const form = document.querySelector("[data-classify-form]");

async function shrink(file) {
  // Re-encode photos larger than MAX_SIDE as JPEG; small ones go up unchanged.
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" }).catch(() => null);
  if (!bitmap || Math.max(bitmap.width, bitmap.height) <= MAX_SIDE) return file;
  const scale = MAX_SIDE / Math.max(bitmap.width, bitmap.height);
  const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.9 });
  return new File([blob], "photo.jpg", { type: "image/jpeg" });
}

function setFile(input, file) {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
}

function showPreview(file) {
  const preview = form.querySelector("[data-photo-preview]");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
}

if (form) {
  const input = form.querySelector("[data-photo-input]");
  const progress = form.querySelector("[data-progress]");
  const bar = form.querySelector("[data-progress-bar]");
  const label = form.querySelector("[data-progress-label]");

  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    const smaller = await shrink(file);
    if (smaller !== file) setFile(input, smaller);
    showPreview(smaller);
  });

  // Upload with a progress bar; the server answers with a redirect to the result page.
  form.addEventListener("submit", (event) => {
    if (!input.files.length) return; // let the server say what is missing
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    progress.hidden = false;
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const percent = Math.round((e.loaded / e.total) * 100);
      bar.style.width = `${percent}%`;
      bar.setAttribute("aria-valuenow", String(percent));
      label.textContent = percent < 100 ? `${percent}%` : "…";
    });
    request.addEventListener("load", () => {
      if (request.responseURL && request.responseURL !== window.location.href && request.status < 400) {
        window.location.assign(request.responseURL);
      } else {
        document.open(); document.write(request.responseText); document.close();
      }
    });
    request.addEventListener("error", () => form.submit());
    form.querySelector("[data-submit]").disabled = true;
    request.send(new FormData(form));
  });

  // Camera: only where the browser allows it (HTTPS or localhost). Where it cannot be used, the
  // page says why (the texts come translated in data-reason-* attributes) and points to the
  // photo picker, which works everywhere (on phones it offers the camera too).
  const start = form.querySelector("[data-camera-start]");
  const camera = form.querySelector("[data-camera]");
  const video = form.querySelector("[data-camera-video]");
  const status = form.querySelector("[data-camera-status]");
  let stream = null;
  const stop = () => { stream?.getTracks().forEach((t) => t.stop()); stream = null; camera.hidden = true; start.hidden = false; };

  const pointToPicker = (focus) => {
    const field = input.closest(".field") || input;
    field.classList.add("highlight-picker");
    if (focus) input.focus();
  };
  const explain = (reason, { focus = false } = {}) => {
    start.hidden = true;
    const message = document.createElement("p");
    message.className = "message camera-message";
    message.dataset.cameraReason = reason;
    const texts = { insecure: "reasonInsecure", "no-camera": "reasonNoCamera", denied: "reasonDenied", failed: "reasonFailed" };
    message.append(`${status.dataset[texts[reason]]} `);
    const link = document.createElement("a");
    link.href = `#${status.dataset.picker}`;
    link.textContent = status.dataset.fallback;
    link.addEventListener("click", (event) => { event.preventDefault(); pointToPicker(true); });
    message.append(link);
    status.replaceChildren(message);
    pointToPicker(focus);
  };
  const reasonOf = (error) => {
    if (error?.name === "NotAllowedError" || error?.name === "SecurityError") return "denied";
    if (error?.name === "NotFoundError" || error?.name === "OverconstrainedError") return "no-camera";
    return "failed";
  };
  const hasVideoInput = async () => {
    if (!navigator.mediaDevices.enumerateDevices) return true; // cannot tell: let getUserMedia say
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => null);
    return devices === null || devices.some((device) => device.kind === "videoinput");
  };

  if (!window.isSecureContext) {
    explain("insecure");
  } else if (!navigator.mediaDevices?.getUserMedia) {
    explain("no-camera");
  } else {
    hasVideoInput().then((found) => {
      if (!found) { explain("no-camera"); return; }
      start.hidden = false;
    });
    start.addEventListener("click", async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1600 } }, audio: false });
      } catch (error) {
        explain(reasonOf(error), { focus: true });
        return;
      }
      status.replaceChildren();
      video.srcObject = stream;
      await video.play();
      camera.hidden = false;
      start.hidden = true;
    });
    form.querySelector("[data-camera-stop]").addEventListener("click", stop);
    form.querySelector("[data-camera-capture]").addEventListener("click", async () => {
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
      const file = await shrink(new File([blob], "camera.jpg", { type: "image/jpeg" }));
      setFile(input, file);
      showPreview(file);
      stop();
    });
  }
}
