// pmtwatch uploads: Dioxus 0.7's glue listens for clicks on the whole window and, for any
// file input inside the rendered page (every element there has an ancestor with a
// `data-dioxus-id`), cancels the click and asks the host for a native file dialog, which
// a LiveView server does not have: the browser's file chooser would never open. Our file
// inputs (`data-plain-upload`) belong to plain HTML forms posted over HTTP; stop their
// clicks on the way down, before the glue's window listener sees them. The browser's own
// action (opening the chooser) is not cancelled by stopping propagation.
(function () {
  "use strict";
  window.addEventListener(
    "click",
    function (event) {
      var t = event.target;
      if (t instanceof HTMLInputElement && t.type === "file" && t.hasAttribute("data-plain-upload")) {
        event.stopPropagation();
      }
    },
    true
  );
})();
