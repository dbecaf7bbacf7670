(function () {
  "use strict";
  var form = document.getElementById("filters");
  function checked(name) {
    var s = {};
    form.querySelectorAll("input[name=" + name + "]").forEach(function (i) { s[i.value] = i.checked; });
    return s;
  }
  function apply() {
    var sev = checked("severity"), st = checked("status");
    var all = document.getElementById("f-all-hosts").checked;
    var q = document.getElementById("f-host").value.trim().toLowerCase();
    document.querySelectorAll("#matrix th.ctl").forEach(function (th) {
      th.classList.toggle("hidden", !!th.dataset.severity && !sev[th.dataset.severity]);
    });
    var hiddenCtl = {};
    document.querySelectorAll("#matrix th.ctl.hidden").forEach(function (th) { hiddenCtl[th.dataset.ctl] = true; });
    var shownHosts = {}, quiet = 0;
    document.querySelectorAll("#matrix tr.hostrow").forEach(function (tr) {
      var any = tr.classList.contains("down");
      tr.querySelectorAll("td[data-ctl]").forEach(function (td) {
        var hide = !!hiddenCtl[td.dataset.ctl];
        td.classList.toggle("hidden", hide);
        if (td.dataset.status) {
          var on = !!st[td.dataset.status];
          td.classList.toggle("dim", !on);
          if (on && !hide) { any = true; }
        }
      });
      var match = !q || tr.dataset.host.toLowerCase().indexOf(q) >= 0;
      var show = match && (any || all);
      tr.classList.toggle("hidden", !show);
      if (show) { shownHosts[tr.dataset.host] = true; }
      if (match && !show) { quiet += 1; }
    });
    // Say how many hosts the status filter leaves out, so none is missed unawares.
    var note = document.getElementById("hidden-note");
    if (note) {
      note.textContent = quiet === 0 ? "" : quiet + (quiet === 1 ? " host has" : " hosts have") +
        " nothing with the selected statuses and " + (quiet === 1 ? "is" : "are") +
        " not shown (tick “show hosts with nothing selected”).";
    }
    document.querySelectorAll("section.host").forEach(function (sec) {
      sec.classList.toggle("hidden", !shownHosts[sec.dataset.host]);
      sec.querySelectorAll(".result[data-status]").forEach(function (r) {
        var on = !!st[r.dataset.status] && (!r.dataset.severity || !!sev[r.dataset.severity]);
        r.classList.toggle("shown", on);
        r.classList.toggle("hidden", !on);
      });
    });
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  var dialog = document.getElementById("evidence");
  function openResult(id) {
    var src = document.getElementById(id);
    if (!src || typeof dialog.showModal !== "function") { return false; }
    var body = document.getElementById("evidence-body");
    body.innerHTML = "";
    var copy = src.cloneNode(true);
    copy.removeAttribute("id");
    copy.classList.remove("hidden");
    body.appendChild(copy);
    if (!dialog.open) { dialog.showModal(); }
    return true;
  }
  document.getElementById("matrix").addEventListener("click", function (ev) {
    var a = ev.target.closest("a.cell");
    if (a && openResult(a.dataset.result)) { ev.preventDefault(); }
  });
  // Links into the page: `?severity=high,critical&status=fail&host=web&all=1` sets the
  // filters, `#rN` opens that result's evidence.
  var params = new URLSearchParams(location.search);
  ["severity", "status"].forEach(function (name) {
    var v = params.get(name);
    if (v === null) { return; }
    var want = v.split(",");
    form.querySelectorAll("input[name=" + name + "]").forEach(function (i) { i.checked = want.indexOf(i.value) >= 0; });
  });
  if (params.get("host")) { document.getElementById("f-host").value = params.get("host"); }
  if (params.get("all") === "1") { document.getElementById("f-all-hosts").checked = true; }
  function fromHash() { if (/^#r[0-9]+$/.test(location.hash)) { openResult(location.hash.slice(1)); } }
  window.addEventListener("hashchange", fromHash);
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll(".hidden").forEach(function (e) { e.classList.remove("hidden"); });
  });
  apply();
  fromHash();
})();
