/* The Jupyter widget manager (@jupyter-widgets/html-manager) typesets widget labels with the
 * MathJax 2 API, MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads
 * MathJax 3, which has no Hub, so every rendered widget threw a TypeError. This forwards those
 * calls to MathJax 3's typesetPromise. Loaded before widgets/embed.js (see _config.yml). */
(function () {
  function install() {
    var mj = window.MathJax;
    if (!mj || mj.Hub) return;
    mj.Hub = {
      Queue: function () {
        for (var i = 0; i < arguments.length; i++) {
          var job = arguments[i];
          if (!Array.isArray(job) || job[0] !== "Typeset") continue;
          var element = job[2];
          var ready = mj.startup && mj.startup.promise ? mj.startup.promise : Promise.resolve();
          ready.then(function () {
            if (window.MathJax.typesetPromise) {
              return window.MathJax.typesetPromise(element ? [element] : undefined);
            }
          }).catch(function (err) { console.warn("widget maths not typeset:", err); });
        }
      }
    };
  }
  install();
  document.addEventListener("DOMContentLoaded", install);
  window.addEventListener("load", install);
})();
