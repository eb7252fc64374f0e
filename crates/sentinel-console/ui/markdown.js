// A small Markdown renderer for Sentinel's own documentation (headings,
// paragraphs, lists, fenced code, tables, inline code, emphasis, links).
// It builds DOM nodes and never assigns HTML, so nothing in a document can
// run as script. Headings get GitHub-style ids; a table row whose first
// cell is `code` gets that code as its id, so `errors#upstream_error`
// lands on the row that explains it.
"use strict";

window.SentinelMarkdown = (function () {
  function slug(text) {
    return text.toLowerCase().trim()
      .replace(/[^\w\- ]+/g, "")
      .replace(/ /g, "-");
  }

  // Links to sibling pages (`policy.md#x`) stay inside the served docs.
  function href(target, base) {
    if (/^[a-z]+:/i.test(target) || target.startsWith("#") || target.startsWith("/")) {
      return target;
    }
    const m = target.match(/^([\w\-]+)\.md(#.*)?$/);
    if (m) return base + "/" + m[1] + (m[2] || "");
    return target;
  }

  function inline(parent, text, base) {
    const re = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\([^)\s]+\))/;
    while (text.length) {
      const m = text.match(re);
      if (!m) { parent.appendChild(document.createTextNode(text)); break; }
      if (m.index > 0) parent.appendChild(document.createTextNode(text.slice(0, m.index)));
      const token = m[0];
      if (m[1]) {
        const code = document.createElement("code");
        code.textContent = token.slice(1, -1);
        parent.appendChild(code);
      } else if (m[2]) {
        const strong = document.createElement("strong");
        inline(strong, token.slice(2, -2), base);
        parent.appendChild(strong);
      } else if (m[3]) {
        const em = document.createElement("em");
        inline(em, token.slice(1, -1), base);
        parent.appendChild(em);
      } else {
        const lm = token.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
        const a = document.createElement("a");
        a.href = href(lm[2], base);
        inline(a, lm[1], base);
        parent.appendChild(a);
      }
      text = text.slice(m.index + token.length);
    }
  }

  function cells(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
  }

  function render(source, base) {
    const root = document.createDocumentFragment();
    const lines = source.replace(/\r\n/g, "\n").split("\n");
    const used = new Set();
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (/^```/.test(line)) {
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        const body = [];
        i++;
        while (i < lines.length && !/^```/.test(lines[i])) body.push(lines[i++]);
        i++;
        code.textContent = body.join("\n");
        pre.appendChild(code);
        root.appendChild(pre);
        continue;
      }
      const h = line.match(/^(#{1,6})\s+(.*)$/);
      if (h) {
        const el = document.createElement("h" + h[1].length);
        let id = slug(h[2].replace(/[`*]/g, ""));
        while (used.has(id)) id += "-1";
        used.add(id);
        el.id = id;
        inline(el, h[2], base);
        root.appendChild(el);
        i++;
        continue;
      }
      if (/^\|/.test(line) && i + 1 < lines.length && /^\|[\s\-:|]+\|?\s*$/.test(lines[i + 1])) {
        const table = document.createElement("table");
        const thead = table.createTHead();
        const hr = thead.insertRow();
        for (const c of cells(line)) {
          const th = document.createElement("th");
          th.scope = "col";
          inline(th, c, base);
          hr.appendChild(th);
        }
        const tbody = table.createTBody();
        i += 2;
        while (i < lines.length && /^\|/.test(lines[i])) {
          const row = tbody.insertRow();
          const cs = cells(lines[i]);
          for (const c of cs) inline(row.insertCell(), c, base);
          const first = cs.map((c) => c.match(/^`([\w.\-]+)`$/)).find(Boolean);
          if (first && !used.has(first[1])) { row.id = first[1]; used.add(first[1]); }
          i++;
        }
        root.appendChild(table);
        continue;
      }
      const li = line.match(/^(\s*)([-*]|\d+\.)\s+(.*)$/);
      if (li) {
        const ordered = /\d/.test(li[2]);
        const list = document.createElement(ordered ? "ol" : "ul");
        while (i < lines.length) {
          const m = lines[i].match(/^(\s*)([-*]|\d+\.)\s+(.*)$/);
          if (!m) {
            if (/^\s{2,}\S/.test(lines[i]) && list.lastChild) {
              list.lastChild.appendChild(document.createTextNode(" "));
              inline(list.lastChild, lines[i].trim(), base);
              i++;
              continue;
            }
            break;
          }
          const item = document.createElement("li");
          inline(item, m[3], base);
          list.appendChild(item);
          i++;
        }
        root.appendChild(list);
        continue;
      }
      if (!line.trim()) { i++; continue; }
      const para = [];
      while (i < lines.length && lines[i].trim() && !/^(#{1,6}\s|```|\|)/.test(lines[i]) &&
             !/^\s*([-*]|\d+\.)\s+/.test(lines[i])) {
        para.push(lines[i++].trim());
      }
      const p = document.createElement(/^>/.test(para[0]) ? "blockquote" : "p");
      inline(p, para.join(" ").replace(/^>\s?/, ""), base);
      root.appendChild(p);
    }
    return root;
  }

  return { render: render, slug: slug };
})();
