// Small progressive enhancements; every page works without JavaScript.

// Gallery filters: submit when a select changes, so choosing a category is one click.
for (const form of document.querySelectorAll("form.filters")) {
  for (const select of form.querySelectorAll("select")) {
    select.addEventListener("change", () => form.requestSubmit());
  }
}
