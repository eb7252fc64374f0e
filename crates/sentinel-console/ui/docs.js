// The documentation page: fetches the Markdown of the page named in the
// URL (/console/docs/{page}) and renders it, then scrolls to the anchor.
"use strict";

(function () {
  const base = document.querySelector('meta[name="sentinel-docs-base"]').content;
  const page = location.pathname.replace(/\/+$/, "").split("/").pop();
  const article = document.getElementById("doc");
  fetch("/console/docs/" + encodeURIComponent(page) + ".md", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error("no documentation page " + page))))
    .then((text) => {
      article.textContent = "";
      article.appendChild(window.SentinelMarkdown.render(text, "/console/docs"));
      const first = article.querySelector("h1");
      if (first) document.title = first.textContent + " · Sentinel docs";
      if (location.hash) {
        const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
        if (target) {
          target.classList.add("target");
          target.scrollIntoView();
        }
      }
    })
    .catch((e) => { article.textContent = e.message; });
  document.getElementById("docs-base").textContent = base;
})();
