/* Every staff page: tell the server the browser's time zone (used unless the profile names one). */
(function () {
  "use strict";
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
  if (!zone) return;
  var current = (document.cookie.split("; ").filter(function (c) { return c.indexOf("docproc_tz=") === 0; })[0] || "").slice(11);
  if (decodeURIComponent(current) !== zone) {
    document.cookie = "docproc_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
  }
})();
