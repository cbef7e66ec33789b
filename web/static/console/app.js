// Roset Local console and portal: uploads with per-file progress, live status, streamed answers, copy buttons.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.content : "";
  var DONE = { completed: 1, failed: 1, deleted: 1, uploaded: 0 };

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }

  // Confirm before destructive form posts.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  // Copy buttons.
  document.addEventListener("click", function (ev) {
    var sel = ev.target.getAttribute && ev.target.getAttribute("data-copy");
    if (!sel) return;
    var input = document.querySelector(sel);
    input.select();
    var done = function () { ev.target.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    else { document.execCommand("copy"); done(); }
  });

  // ---- status polling -------------------------------------------------------------------
  var watched = {};
  function setBadge(node, status) {
    var b = node.querySelector("[data-status]");
    if (b) { b.textContent = status; b.className = "badge s-" + status; }
    node.setAttribute("data-state", status);
  }
  function poll() {
    var ids = Object.keys(watched);
    if (!ids.length) return;
    fetch("/console/api/files/status?ids=" + encodeURIComponent(ids.join(",")), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        ids.forEach(function (id) {
          var st = data.files[id]; if (!st) return;
          var label = st.status === "processing" && st.progress != null ? st.status : st.status;
          watched[id].forEach(function (node) {
            var before = node.getAttribute("data-state");
            setBadge(node, label);
            var prog = node.querySelector("progress.job");
            if (prog && st.progress != null) prog.value = st.status === "completed" ? 100 : st.progress;
            if (before !== st.status && node.hasAttribute("data-reload-on-change") && DONE[st.status]) window.location.reload();
            if (before !== st.status && node.tagName === "LI") refreshRows();
          });
          if (DONE[st.status]) delete watched[id];
        });
      }).catch(function () {});
  }
  function watch(id, node) { (watched[id] = watched[id] || []).push(node); }
  function scan(root) {
    root.querySelectorAll("[data-poll-files] [data-file-id], [data-poll-files][data-file-id]").forEach(function (node) {
      var s = node.getAttribute("data-state");
      if (s && !DONE[s]) watch(node.getAttribute("data-file-id"), node);
    });
  }
  scan(document);
  setInterval(poll, 1500);

  // The files table reloads its rows (same filters and page) when uploads finish or change state.
  var rowsBody = document.getElementById("file-rows"), refreshTimer = null;
  function refreshRows() {
    if (!rowsBody || refreshTimer) return;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      var q = window.location.search ? window.location.search + "&" : "?";
      fetch(rowsBody.getAttribute("data-rows-url") + q + "partial=1", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html == null) return;
          Object.keys(watched).forEach(function (id) {
            watched[id] = watched[id].filter(function (n) { return !rowsBody.contains(n); });
            if (!watched[id].length) delete watched[id];
          });
          rowsBody.innerHTML = html;
          scan(rowsBody.closest("[data-poll-files]") || document);
        }).catch(function () {});
    }, 300);
  }

  // ---- uploads --------------------------------------------------------------------------
  var zone = document.getElementById("dropzone");
  if (zone) {
    var input = document.getElementById("file-input");
    var list = document.getElementById("uploads");
    var spaceInput = document.getElementById("upload-space");
    var queue = [], active = 0, MAX = 3;
    function next() {
      while (active < MAX && queue.length) { active++; send(queue.shift()); }
    }
    function send(item) {
      var xhr = new XMLHttpRequest();
      var space = (spaceInput.value || "default").trim();
      xhr.open("POST", "/console/api/upload?space=" + encodeURIComponent(space));
      xhr.setRequestHeader("X-CSRF-Token", CSRF);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) item.bar.value = Math.round(100 * e.loaded / e.total); };
      xhr.onload = function () {
        active--; next();
        var body = null; try { body = JSON.parse(xhr.responseText); } catch (e) {}
        if (xhr.status === 201 && body) {
          item.bar.value = 100;
          item.row.setAttribute("data-file-id", body.id);
          item.link.href = "/console/files/" + body.id;
          setBadge(item.row, body.status);
          if (!DONE[body.status] || body.status === "uploaded") watch(body.id, item.row);
          refreshRows();
        } else {
          setBadge(item.row, "failed");
          item.msg.textContent = (body && body.error) || ("Upload failed (HTTP " + xhr.status + ")");
        }
      };
      xhr.onerror = function () { active--; next(); setBadge(item.row, "failed"); item.msg.textContent = "Network error"; };
      var fd = new FormData();
      fd.append("file", item.file, item.file.name);
      var extraction = document.getElementById("upload-extraction");
      if (extraction && extraction.value) fd.append("extraction", extraction.value);
      xhr.send(fd);
    }
    function add(files) {
      Array.prototype.forEach.call(files, function (file) {
        var row = el("li"); row.setAttribute("data-state", "uploading");
        var name = el("span", "name"); var link = el("a", null, file.name); name.appendChild(link);
        var bar = el("progress"); bar.max = 100; bar.value = 0; bar.className = "upload"; bar.setAttribute("aria-label", "Upload progress of " + file.name);
        var status = el("span"); var badge = el("span", "badge s-uploading", "uploading"); badge.setAttribute("data-status", "");
        var msg = el("span", "problem small"); status.appendChild(badge); status.appendChild(document.createTextNode(" ")); status.appendChild(msg);
        row.appendChild(name); row.appendChild(bar); row.appendChild(status);
        list.appendChild(row);
        queue.push({ file: file, row: row, bar: bar, link: link, msg: msg });
      });
      next();
    }
    input.addEventListener("change", function () { add(input.files); input.value = ""; });
    ["dragenter", "dragover"].forEach(function (t) { zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (t) { zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.remove("over"); }); });
    zone.addEventListener("drop", function (e) { if (e.dataTransfer && e.dataTransfer.files.length) add(e.dataTransfer.files); });
    zone.addEventListener("keydown", function (e) { if (e.target === zone && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); input.click(); } });
  }

  // ---- live jobs table --------------------------------------------------------------------
  var live = document.getElementById("jobs-live");
  if (live) {
    setInterval(function () {
      if (document.hidden || live.contains(document.activeElement)) return;
      fetch(live.getAttribute("data-live-url"), { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html) live.innerHTML = html; }).catch(function () {});
    }, 2000);
  }

  // ---- connection sync progress --------------------------------------------------------------
  var syncBox = document.querySelector("[data-sync-progress]");
  if (syncBox) {
    var ACTIVE = { queued: 1, syncing: 1 };
    var bar = document.getElementById("sync-bar"), text = syncBox.querySelector("[data-sync-text]");
    var state = syncBox.getAttribute("data-state");
    var tick = function () {
      if (!ACTIVE[state]) return;
      fetch(syncBox.getAttribute("data-sync-progress"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) return;
          bar.value = p.percent || 0;
          setBadge(syncBox, p.status);
          if (ACTIVE[p.status]) {
            text.textContent = p.status === "queued" ? "Waiting for a worker…" :
              p.synced + " of " + (p.total || "?") + " objects listed" + (p.eta_seconds ? ", about " + p.eta_seconds + " s left" : "");
            state = p.status;
            setTimeout(tick, 1000);
          } else {
            text.textContent = p.status === "completed" ? "Done: " + p.total + " objects. Updating the lists…" : (p.error || "Failed");
            state = p.status;
            setTimeout(function () { window.location.reload(); }, 600);
          }
        }).catch(function () { setTimeout(tick, 3000); });
    };
    setTimeout(tick, 500);
  }

  // ---- connection setup: credential method, live bucket name in the instructions, copy ---------
  document.querySelectorAll("form.connect-form").forEach(function (form) {
    var radios = form.querySelectorAll("[data-method]");
    var show = function () {
      var chosen = form.querySelector("[data-method]:checked");
      form.querySelectorAll("[data-method-fields]").forEach(function (box) {
        box.hidden = !!chosen && box.getAttribute("data-method-fields") !== chosen.value;
      });
    };
    radios.forEach(function (r) { r.addEventListener("change", show); });
    show();
    var bucket = form.querySelector("[data-bucket-input]");
    var refs = document.querySelectorAll(".bucket-ref");
    var update = function () {
      var name = bucket.value.trim() || "YOUR_BUCKET";
      refs.forEach(function (r) { r.textContent = name; });
    };
    if (bucket && refs.length) { bucket.addEventListener("input", update); update(); }
  });
  document.addEventListener("click", function (ev) {
    var sel = ev.target.getAttribute && ev.target.getAttribute("data-copy-text");
    if (!sel) return;
    var text = document.querySelector(sel).textContent;
    var done = function () { ev.target.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, function () {});
    else {
      var t = el("textarea"); t.value = text; document.body.appendChild(t); t.select();
      document.execCommand("copy"); document.body.removeChild(t); done();
    }
  });

  // ---- routing rules: add a row -------------------------------------------------------------
  document.querySelectorAll("[data-add-rule]").forEach(function (button) {
    button.addEventListener("click", function () {
      var body = document.getElementById("rule-rows");
      var rows = body.querySelectorAll("[data-rule-row]");
      var last = rows[rows.length - 1];
      var row = last.cloneNode(true);
      row.classList.remove("invalid");
      var n = rows.length + 1;
      row.querySelector("td").textContent = String(n);
      row.querySelectorAll("input[name=rule_content_type]").forEach(function (i) { i.value = ""; i.removeAttribute("aria-invalid"); i.setAttribute("aria-label", "Content type of rule " + n); });
      var sel = row.querySelector("select"); sel.setAttribute("aria-label", "Provider of rule " + n);
      if (!sel.querySelector("option[value='']")) { var o = el("option", null, "choose…"); o.value = ""; sel.insertBefore(o, sel.firstChild); }
      sel.value = "";
      row.lastElementChild.textContent = "";
      body.appendChild(row);
      row.querySelector("input").focus();
    });
  });

  // ---- streamed answers ---------------------------------------------------------------------
  document.querySelectorAll("form.qa-form").forEach(function (form) {
    var answer = document.getElementById("answer"), sources = document.getElementById("sources");
    var es = null;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (es) es.close();
      answer.textContent = ""; sources.innerHTML = "";
      answer.setAttribute("aria-busy", "true");
      var params = new URLSearchParams(new FormData(form));
      es = new EventSource(form.getAttribute("data-qa-url") + "?" + params.toString());
      var base = form.getAttribute("data-file-base");
      es.onmessage = function (m) {
        var ev2; try { ev2 = JSON.parse(m.data); } catch (e) { return; }
        if (ev2.type === "chunk") answer.textContent += ev2.content;
        else if (ev2.type === "sources") {
          (ev2.sources || []).forEach(function (s) {
            var li = el("li"); var a = el("a", null, s.filename || s.file_id); a.href = base + s.file_id;
            if (s.page) a.href += "?page=" + s.page + (s.bbox ? "&bbox=" + s.bbox.join(",") : "") + "#page-view";
            li.appendChild(a);
            if (s.page) li.appendChild(document.createTextNode(" · page " + s.page));
            if (s.score != null) li.appendChild(el("span", "muted", " · score " + s.score));
            sources.appendChild(li);
          });
        } else if (ev2.type === "error") { answer.textContent = ev2.error; answer.className = "answer-text problem"; }
        else if (ev2.type === "done") { es.close(); answer.removeAttribute("aria-busy"); if (!answer.textContent) answer.textContent = "No answer."; }
      };
      es.onerror = function () { es.close(); answer.removeAttribute("aria-busy"); };
    });
  });
})();
