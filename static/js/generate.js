// Generate page: show the fields of the chosen mode, filter the motif thumbnails by a search,
// and show a weight only for ticked motifs. Without JavaScript every field stays visible.
const form = document.querySelector("[data-generate-form]");

if (form) {
  const modeInputs = form.querySelectorAll("[data-mode-input]");
  const currentMode = () => [...modeInputs].find((input) => input.checked)?.value || "fusion";

  const showMode = () => {
    const mode = currentMode();
    form.querySelectorAll("[data-show-for]").forEach((section) => {
      section.hidden = !section.dataset.showFor.split(" ").includes(mode);
    });
    form.querySelectorAll("[data-mode-help]").forEach((help) => { help.hidden = help.dataset.modeHelp !== mode; });
    form.querySelectorAll(".pick-weight").forEach((weight) => { weight.hidden = mode !== "fusion" || !weight.closest("[data-pick]").classList.contains("picked"); });
  };
  modeInputs.forEach((input) => input.addEventListener("change", showMode));

  form.querySelectorAll("[data-pick-input]").forEach((input) => {
    input.addEventListener("change", () => {
      input.closest("[data-pick]").classList.toggle("picked", input.checked);
      showMode();
    });
  });

  const search = form.querySelector("[data-motif-search]");
  if (search) {
    search.hidden = false;
    search.addEventListener("input", () => {
      const words = search.value.toLowerCase().trim().split(/\s+/).filter(Boolean);
      form.querySelectorAll("[data-pick]").forEach((pick) => {
        pick.hidden = !words.every((word) => pick.dataset.searchText.includes(word));
      });
    });
  }
  showMode();
}
