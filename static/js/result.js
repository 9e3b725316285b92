// Result page: while the classification is queued, poll its status and reload when done.
const result = document.querySelector("[data-result]");
if (result && result.dataset.finished === "false") {
  const poll = async () => {
    try {
      const response = await fetch(result.dataset.statusUrl, { headers: { Accept: "application/json" } });
      const status = await response.json();
      if (status.finished) { window.location.reload(); return; }
    } catch { /* network hiccup: try again */ }
    setTimeout(poll, 700);
  };
  setTimeout(poll, 500);
}
// After asking for the heat map, reload until it is there.
if (result && window.location.hash === "#saliency" && !document.querySelector("#saliency img")) {
  const check = async () => {
    const status = await (await fetch(result.dataset.statusUrl)).json();
    if (status.saliency) window.location.reload(); else setTimeout(check, 800);
  };
  setTimeout(check, 600);
}
