// Job page (a generation job or a print job): while it runs, poll its status, move the progress
// bar, and reload when done.
// The text and the bar come from one answer (the server's job_progress), so they always agree.
const job = document.querySelector("[data-job]");
if (job && job.dataset.finished === "false") {
  const bar = job.querySelector("[data-progress-bar]");
  const stage = job.querySelector("[data-stage]");
  const percent = job.querySelector("[data-percent]");
  const poll = async () => {
    try {
      const response = await fetch(job.dataset.statusUrl, { headers: { Accept: "application/json" } });
      const status = await response.json();
      if (status.finished) { window.location.reload(); return; }
      const value = status.percent;
      if (bar) { bar.style.width = `${value}%`; bar.setAttribute("aria-valuenow", value); }
      if (percent) percent.textContent = value;
      if (stage) stage.textContent = status.stage_label || status.label;
    } catch { /* network hiccup: try again */ }
    setTimeout(poll, 600);
  };
  setTimeout(poll, 400);
}
