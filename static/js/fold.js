// <details data-fold-on-phone>: open on wide screens (as the server sends it), folded away on a
// phone so the results come first. Without JavaScript it simply stays open.
const phone = window.matchMedia("(max-width: 640px)");

function fit() {
  for (const details of document.querySelectorAll("details[data-fold-on-phone]")) {
    details.open = !phone.matches;
  }
}

fit();
phone.addEventListener("change", fit);
