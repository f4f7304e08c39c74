/*
 * A small Markdown renderer that cannot inject markup.
 *
 * Why not a library: the page has no build step and loads nothing from a CDN. Why this shape: the text comes
 * from a model reading a user's document, so it is untrusted. Every node is made with createElement and every
 * piece of text goes in through createTextNode; nothing is ever assigned to innerHTML. Links keep only
 * http(s)/mailto/relative targets, images are not loaded (their alt text is shown instead).
 *
 * The subset is what vision models write for documents: headings, paragraphs, emphasis, code, lists,
 * block quotes, rules, pipe tables, and the plain HTML tables Qwen-VL often emits. Those tables are parsed
 * by DOMParser into an inert document (no scripts run, nothing loads) and only table elements, inline
 * emphasis and the colspan/rowspan attributes are copied across; everything else becomes its text.
 * Anything not understood is shown as text, never dropped.
 */
(function () {
  "use strict";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- inline ------------------------------------------------------------------------------------------

  const INLINE = [
    { kind: "code", re: /`([^`\n]+)`/ },
    { kind: "image", re: /!\[([^\]\n]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)/ },
    { kind: "link", re: /\[([^\]\n]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/ },
    { kind: "autolink", re: /<(https?:\/\/[^>\s]+)>/ },
    { kind: "strong", re: /\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__/ },
    { kind: "del", re: /~~(?=\S)([\s\S]*?\S)~~/ },
    { kind: "em", re: /\*(?=[^\s*])([^*]*?[^\s*])\*|(?<![\w])_(?=[^\s_])([^_]*?[^\s_])_(?![\w])/ },
    { kind: "br", re: / {2,}\n|\\\n|<br\s*\/?>/i },
  ];

  function safeHref(url) {
    const trimmed = url.trim();
    if (/^(https?:|mailto:)/i.test(trimmed)) return trimmed;
    if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed)) return null; // javascript:, data:, vbscript:, ...
    return trimmed; // relative or fragment
  }

  function appendInline(parent, text) {
    let rest = text;
    while (rest) {
      let best = null;
      for (const rule of INLINE) {
        const m = rule.re.exec(rest);
        if (m && (best === null || m.index < best.m.index)) best = { rule, m };
      }
      if (best === null) {
        parent.appendChild(document.createTextNode(rest));
        return;
      }
      const { rule, m } = best;
      if (m.index > 0) parent.appendChild(document.createTextNode(rest.slice(0, m.index)));
      const inner = m[1] !== undefined ? m[1] : m[2];
      if (rule.kind === "code") {
        parent.appendChild(el("code", null, inner));
      } else if (rule.kind === "image") {
        parent.appendChild(el("span", "md-image", m[1] ? `[image: ${m[1]}]` : "[image]"));
      } else if (rule.kind === "link" || rule.kind === "autolink") {
        const href = safeHref(rule.kind === "link" ? m[2] : m[1]);
        if (href === null) {
          appendInline(parent, inner);
        } else {
          const a = el("a");
          a.href = href;
          a.rel = "noopener noreferrer nofollow";
          a.target = "_blank";
          appendInline(a, inner);
          parent.appendChild(a);
        }
      } else if (rule.kind === "br") {
        parent.appendChild(el("br"));
      } else {
        const node = el(rule.kind);
        appendInline(node, inner);
        parent.appendChild(node);
      }
      rest = rest.slice(m.index + m[0].length);
    }
  }

  // ---- HTML tables (whitelisted copy out of an inert document) ---------------------------------------------

  const TABLE_TAGS = new Set([
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
    "b", "strong", "i", "em", "u", "sub", "sup", "br", "code", "span", "p",
  ]);

  const DROPPED_TAGS = new Set(["script", "style", "template", "noscript", "iframe", "object"]);

  function copySafe(source, target) {
    for (const child of source.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        target.appendChild(document.createTextNode(child.textContent));
      } else if (child.nodeType === Node.ELEMENT_NODE) {
        const tag = child.tagName.toLowerCase();
        if (DROPPED_TAGS.has(tag)) continue; // code, not content: not even its text is shown
        if (!TABLE_TAGS.has(tag)) {
          copySafe(child, target); // unknown element: keep its text, drop the element
          continue;
        }
        const copy = document.createElement(tag);
        for (const name of ["colspan", "rowspan"]) {
          const value = child.getAttribute(name);
          if (value && /^\d{1,3}$/.test(value)) copy.setAttribute(name, value);
        }
        copySafe(child, copy);
        target.appendChild(copy);
      }
    }
  }

  function htmlTable(source) {
    const inert = new DOMParser().parseFromString(source, "text/html");
    const wrap = el("div", "md-table");
    copySafe(inert.body, wrap);
    return wrap;
  }

  // ---- blocks ----------------------------------------------------------------------------------------------

  const isBlank = (line) => /^\s*$/.test(line);
  const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
  const QUOTE = /^\s{0,3}>\s?/;
  const BULLET = /^(\s*)([-*+])\s+(.*)$/;
  const ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
  const TABLE_SEP = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;
  const COMMENT = /^\s*<!--[\s\S]*?-->\s*$/;

  function splitRow(line) {
    let row = line.trim();
    if (row.startsWith("|")) row = row.slice(1);
    if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
    return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
  }

  function startsBlock(line, next) {
    return (
      FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || BULLET.test(line) ||
      ORDERED.test(line) || /^\s*<table/i.test(line) || COMMENT.test(line) ||
      (line.includes("|") && next !== undefined && TABLE_SEP.test(next))
    );
  }

  function renderBlocks(lines, parent) {
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (isBlank(line)) { i++; continue; }

      let m = FENCE.exec(line);
      if (m) {
        const closing = new RegExp(`^\\s{0,3}${m[1][0]}{${m[1].length},}\\s*$`);
        const body = [];
        i++;
        while (i < lines.length && !closing.test(lines[i])) body.push(lines[i++]);
        i++;
        const pre = el("pre");
        const code = el("code", null, body.join("\n"));
        if (m[2]) code.dataset.lang = m[2];
        pre.appendChild(code);
        parent.appendChild(pre);
        continue;
      }
      if (COMMENT.test(line)) { i++; continue; } // page markers and other comments stay invisible
      if (/^\s*<!--/.test(line)) { // a comment over several lines
        while (i < lines.length && !lines[i].includes("-->")) i++;
        i++;
        continue;
      }
      m = HEADING.exec(line);
      if (m) {
        const h = el(`h${m[1].length}`);
        appendInline(h, m[2]);
        parent.appendChild(h);
        i++;
        continue;
      }
      if (RULE.test(line)) { parent.appendChild(el("hr")); i++; continue; }
      if (/^\s*<table/i.test(line)) {
        const chunk = [];
        while (i < lines.length) {
          chunk.push(lines[i]);
          if (/<\/table>/i.test(lines[i++])) break;
        }
        parent.appendChild(htmlTable(chunk.join("\n")));
        continue;
      }
      if (QUOTE.test(line)) {
        const inner = [];
        while (i < lines.length && !isBlank(lines[i]) && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ""));
        const quote = el("blockquote");
        renderBlocks(inner, quote);
        parent.appendChild(quote);
        continue;
      }
      if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
        const wrap = el("div", "md-table");
        const table = el("table");
        const head = el("thead");
        const tr = el("tr");
        for (const cell of splitRow(line)) { const th = el("th"); appendInline(th, cell); tr.appendChild(th); }
        head.appendChild(tr);
        table.appendChild(head);
        const body = el("tbody");
        i += 2;
        while (i < lines.length && !isBlank(lines[i]) && lines[i].includes("|")) {
          const row = el("tr");
          for (const cell of splitRow(lines[i++])) { const td = el("td"); appendInline(td, cell); row.appendChild(td); }
          body.appendChild(row);
        }
        table.appendChild(body);
        wrap.appendChild(table);
        parent.appendChild(wrap);
        continue;
      }
      const bullet = BULLET.exec(line);
      const ordered = ORDERED.exec(line);
      if (bullet || ordered) {
        i = renderList(lines, i, parent);
        continue;
      }
      const para = [];
      while (i < lines.length && !isBlank(lines[i]) && (para.length === 0 || !startsBlock(lines[i], lines[i + 1]))) {
        para.push(lines[i++]);
      }
      const p = el("p");
      appendInline(p, para.join("\n"));
      parent.appendChild(p);
    }
  }

  function renderList(lines, start, parent) {
    const first = BULLET.exec(lines[start]) || ORDERED.exec(lines[start]);
    const indent = first[1].length;
    const ordered = !BULLET.exec(lines[start]);
    const list = el(ordered ? "ol" : "ul");
    if (ordered && first[2] !== "1") list.start = Number(first[2]);
    let i = start;
    let item = null;
    while (i < lines.length) {
      const line = lines[i];
      if (isBlank(line)) {
        // a blank line ends the list unless the next line continues it
        const next = lines[i + 1];
        if (next === undefined || !(BULLET.test(next) || ORDERED.test(next) || /^\s{2,}\S/.test(next))) break;
        i++;
        continue;
      }
      const m = (ordered ? ORDERED : BULLET).exec(line);
      if (m && m[1].length === indent) {
        item = el("li");
        const task = /^\[([ xX])\]\s+(.*)$/.exec(m[3]);
        if (task) {
          item.appendChild(el("span", "md-task", task[1] === " " ? "☐ " : "☑ "));
          appendInline(item, task[2]);
        } else {
          appendInline(item, m[3]);
        }
        list.appendChild(item);
        i++;
        continue;
      }
      const nested = BULLET.exec(line) || ORDERED.exec(line);
      if (nested && nested[1].length > indent && item) {
        i = renderList(lines, i, item);
        continue;
      }
      if (item && /^\s+\S/.test(line) && !nested) { // a continuation line of the item
        item.appendChild(document.createTextNode(" "));
        appendInline(item, line.trim());
        i++;
        continue;
      }
      break;
    }
    parent.appendChild(list);
    return i;
  }

  /** The Markdown ``text`` as a DocumentFragment of safe nodes. */
  function render(text) {
    const fragment = document.createDocumentFragment();
    renderBlocks(String(text).replace(/\r\n?/g, "\n").split("\n"), fragment);
    return fragment;
  }

  window.PagewiseMarkdown = Object.freeze({ render });
})();
