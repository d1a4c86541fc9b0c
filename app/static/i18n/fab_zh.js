// FAB's widgets in Chinese: select2's messages ("No results found", "Remove all items",
// "Searching…") and bootstrap-datepicker's month and day names. Loaded after FAB's
// select2 / datepicker and their zh-CN files, before ab.js sets the widgets up on ready.
(function ($) {
    if (!$) { return; }
    if ($.fn.select2 && $.fn.select2.defaults) {
        $.fn.select2.defaults.set("language", "zh-CN");
    }
    if ($.fn.datepicker && $.fn.datepicker.defaults) {
        $.fn.datepicker.defaults.language = "zh-CN";
    }
}(window.jQuery));
