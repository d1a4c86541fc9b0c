// The staff lists' filter row and Element-UI paging (app/views/_filters.py,
// templates/appbuilder/general/widgets/). No inline handlers: the CSP allows only files.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () {
    // 查询: an empty input is no filter, so it is not sent (FAB would filter on "")
    document.querySelectorAll("form.el-filter-row").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll(".el-filter-input").forEach(function (input) {
          if (!input.value.trim()) { input.disabled = true; }
        });
      });
    });
    // N 条/页: choosing a size shows page one at that size
    document.querySelectorAll("select.el-page-size").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    // 前往: typed from 1, FAB counts pages from 0
    document.querySelectorAll("form.el-pagination__jump").forEach(function (form) {
      form.addEventListener("submit", function () {
        var input = form.querySelector("input.el-goto");
        var n = parseInt(input.value, 10);
        var max = parseInt(input.getAttribute("max"), 10);
        if (isNaN(n) || n < 1) { n = 1; }
        if (!isNaN(max) && n > max) { n = max; }
        var page = document.createElement("input");
        page.type = "hidden";
        page.name = form.getAttribute("data-page-arg");
        page.value = String(n - 1);
        form.appendChild(page);
        input.disabled = true;
      });
    });
  });
})();
