// Signup for MFA popup: turn the server-rendered <dialog> into a modal one,
// and give the recovery codes Copy and Download buttons.
(function () {
  "use strict";
  var dialog = document.querySelector("dialog[data-modal]");
  if (!dialog) { return; }
  dialog.removeAttribute("open");
  dialog.showModal();
  // Escape closes the popup the same way as the Close button: back to the code screen.
  dialog.addEventListener("cancel", function (event) {
    var close = dialog.querySelector("[data-close-dialog]");
    if (close) { event.preventDefault(); window.location.assign(close.href); }
    else { event.preventDefault(); }
  });

  function codesText(id) {
    return Array.prototype.map.call(document.querySelectorAll("#" + id + " li"), function (li) {
      return li.textContent.trim();
    }).join("\n") + "\n";
  }
  var copy = dialog.querySelector("[data-copy]");
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(codesText(copy.dataset.copy)).then(function () { copy.textContent = "Copied"; });
    });
  }
  var download = dialog.querySelector("[data-download]");
  if (download) {
    download.hidden = false;
    download.addEventListener("click", function () {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([codesText(download.dataset.download)], { type: "text/plain" }));
      link.download = "back-office-recovery-codes.txt";
      link.click();
      URL.revokeObjectURL(link.href);
    });
  }
}());
