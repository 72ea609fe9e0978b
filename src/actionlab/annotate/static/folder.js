"use strict";
// Folder page: one row per video (top-1, score, top-5), the failures with their reason, a filter.
(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const body = document.querySelector("#predictions tbody");
  const shown = document.getElementById("shown");

  function cell(row, text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    if (text !== undefined) td.textContent = text;
    row.appendChild(td);
    return td;
  }

  data.rows.forEach((r, i) => {
    const tr = document.createElement("tr");
    tr.dataset.video = r.video;
    tr.dataset.top1 = r.top.length ? r.top[0][0] : "";
    tr.dataset.search = (r.video + " " + r.top.map((t) => t[0]).join(" ")).toLowerCase();
    cell(tr, String(i + 1), "num");
    const v = cell(tr);
    if (r.href) {
      const a = document.createElement("a"); a.href = r.href; a.textContent = r.video; v.appendChild(a);
    } else {
      v.textContent = r.video;
    }
    const [label, score] = r.top.length ? r.top[0] : ["", 0];
    cell(tr, label, "top1");
    const s = cell(tr, score.toFixed(3), "num");
    const bar = document.createElement("span"); bar.className = "bar";
    const fill = document.createElement("i"); fill.style.width = `${(100 * score).toFixed(1)}%`;
    bar.appendChild(fill); s.appendChild(bar);
    const list = document.createElement("ol");
    for (const [name, value] of r.top) {
      const li = document.createElement("li"); li.textContent = `${name} ${value.toFixed(3)}`; list.appendChild(li);
    }
    cell(tr).appendChild(list);
    body.appendChild(tr);
  });

  const failures = document.querySelector("#failures tbody");
  for (const f of data.failures) {
    const tr = document.createElement("tr");
    cell(tr, f.video); cell(tr, f.error);
    failures.appendChild(tr);
  }

  function filter() {
    const q = document.getElementById("filter").value.trim().toLowerCase();
    let n = 0;
    for (const tr of body.children) {
      const on = !q || tr.dataset.search.includes(q);
      tr.hidden = !on;
      n += on;
    }
    shown.textContent = `${n} of ${data.rows.length} shown`;
  }
  document.getElementById("filter").addEventListener("input", filter);
  filter();
})();
