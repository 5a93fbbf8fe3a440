/* Site script of the book, served with every page (Jupyter Book adds each .js under _static/).
 *
 * 1. The ipywidgets HTML manager typesets widget labels with the MathJax 2 call
 *    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads MathJax 3, which has
 *    no Hub, so every widget page threw "Cannot read properties of undefined (reading 'Queue')".
 *    Give MathJax 3 that one MathJax 2 entry point, backed by MathJax.typesetPromise.
 * 2. sphinx-togglebutton 0.4.5 opens a folded admonition only when the click lands on the title
 *    element itself or on its button; a click on anything inside the title (the link to the
 *    exercise that sphinx-exercise puts in "Solution to Exercise N", or a formula in it) threw
 *    "ReferenceError: button is not defined" and left the solution closed. Route such clicks to
 *    the toggle button. A modified click on the link (new tab or window) still follows it.
 * 3. Display maths wider than the page scrolls inside its own box; mark the box on the sides
 *    where formula is hidden (lecturebook.css draws a shadow there), since a phone shows no
 *    scrollbar until one scrolls.
 */
(() => {
  "use strict";

  // 1. MathJax.Hub.Queue for the widget manager (it runs on "load", after DOMContentLoaded).
  let typesetting = Promise.resolve();
  const typeset = (element) => {
    const mathjax = window.MathJax;
    typesetting = typesetting
      .then(() => mathjax.startup && mathjax.startup.promise)
      .then(() => mathjax.typesetPromise && mathjax.typesetPromise(element ? [element] : undefined))
      .then(() => watchMaths())
      .catch((error) => console.error("MathJax could not typeset a widget:", error));
    return typesetting;
  };
  const installHub = () => {
    const mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub) return;
    mathjax.Hub = {
      Queue: (...jobs) => {
        for (const job of jobs) {
          if (Array.isArray(job) && job[0] === "Typeset") typeset(job[2]);
          else if (typeof job === "function") typesetting = typesetting.then(job);
        }
        return typesetting;
      },
    };
  };

  // 2. Clicks inside a toggle title go to its button.
  window.addEventListener(
    "click",
    (event) => {
      const target = event.target;
      if (!(target instanceof Element)) return;
      const title = target.closest(".toggle > .admonition-title");
      if (!title || target === title) return;
      const button = title.querySelector(":scope > .toggle-button");
      if (!button || target === button) return;
      event.stopPropagation(); // sphinx-togglebutton's own handler would throw
      const link = target.closest("a[href]");
      if (link && (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey)) return;
      event.preventDefault();
      button.click();
    },
    true,
  );

  // 3. Scroll marks on wide display maths.
  const markEdges = (box) => {
    const hidden = box.scrollWidth - box.clientWidth;
    box.classList.toggle("lb-more-left", hidden > 1 && box.scrollLeft > 1);
    box.classList.toggle("lb-more-right", hidden > 1 && box.scrollLeft < hidden - 1);
  };
  const resized = typeof ResizeObserver === "function"
    ? new ResizeObserver((entries) => entries.forEach((entry) => markEdges(entry.target)))
    : null;
  const watchMaths = () => {
    for (const box of document.querySelectorAll('mjx-container[display="true"]')) {
      if (box.dataset.lbWatched) continue;
      box.dataset.lbWatched = "1";
      box.addEventListener("scroll", () => markEdges(box), { passive: true });
      if (resized) resized.observe(box);
      markEdges(box);
    }
  };

  const ready = () => {
    installHub();
    const mathjax = window.MathJax;
    if (mathjax && mathjax.startup && mathjax.startup.promise) {
      mathjax.startup.promise.then(watchMaths);
    }
    if (!resized) window.addEventListener("resize", () => document
      .querySelectorAll('mjx-container[display="true"]').forEach(markEdges));
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
  window.addEventListener("load", watchMaths); // maths typeset later (widget labels)
})();
