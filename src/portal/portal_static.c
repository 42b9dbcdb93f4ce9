/* The portal's own static files: its stylesheet and its one small script,
 * compiled in, and the organisation's logo (portal.logo, read at start by
 * portal_conf.c). Served from the portal itself under /static/, so the
 * pages need no inline style or script and CSP default-src 'self' holds.
 * These alone are the same for everyone: cacheable for an hour (nothing
 * personal in them; a changed logo shows within the hour). */
#include <string.h>
#include "portal_page.h"

static const char css[] =
    ":root{color-scheme:light}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\","
    "\"DejaVu Sans\",sans-serif;line-height:1.5;color:#1b1f24;background:#f4f6f8}\n"
    ".top{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;"
    "gap:.5rem 1rem;padding:.75rem 1rem;background:#1f3a5f;color:#fff}\n"
    ".brand{display:flex;align-items:center;gap:.6rem;font-size:1.15rem}\n"
    ".logo{height:2.5rem;width:auto;max-width:10rem;background:#fff;border-radius:4px;"
    "padding:2px}\n"
    ".org{font-weight:700}\n"
    ".who{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem .75rem;"
    "overflow-wrap:anywhere}\n"
    ".who form{margin:0}\n"
    "main{max-width:46rem;margin:1.5rem auto;padding:1.25rem 1.5rem 1.5rem;background:#fff;"
    "border:1px solid #d0d7de;border-radius:8px}\n"
    "h1{font-size:1.6rem;line-height:1.25;margin:0 0 .75rem}\n"
    "h2{font-size:1.2rem;margin:1.5rem 0 .5rem;padding-top:1rem;border-top:1px solid "
    "#e3e7eb}\n"
    "a{color:#0b57d0}\n"
    "a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,"
    "summary:focus-visible{outline:3px solid #f0b400;outline-offset:2px}\n"
    "button,.button{display:inline-block;font:inherit;font-weight:600;line-height:1.3;"
    "padding:.55rem 1.1rem;border-radius:6px;border:1px solid #0b57d0;background:#0b57d0;"
    "color:#fff;cursor:pointer;text-decoration:none}\n"
    "button.danger,.button.danger{background:#b3261e;border-color:#b3261e}\n"
    "button.quiet{background:transparent;border-color:#fff;padding:.3rem .8rem}\n"
    "button.copy{background:#fff;color:#0b57d0;padding:.35rem .8rem}\n"
    "input[type=email],input[type=password],input[type=text],select{font:inherit;width:100%;"
    "max-width:24rem;"
    "padding:.5rem;border:1px solid #6e7781;border-radius:6px;background:#fff;"
    "color:#1b1f24}\n"
    "input[type=checkbox]{width:1.2rem;height:1.2rem;vertical-align:middle}\n"
    ".hint{color:#57606a}\n"
    ".problem{border-left:4px solid #b3261e;padding:.25rem .75rem;background:#ffebe9;"
    "color:#1b1f24}\n"
    ".badge{display:inline-block;padding:.25rem .8rem;border-radius:999px;font-weight:700}\n"
    ".badge.ok{background:#dafbe1;color:#116329}\n"
    ".badge.wait{background:#fff8c5;color:#6f4400}\n"
    ".badge.bad{background:#ffebe9;color:#a40e26}\n"
    ".facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;"
    "margin:.75rem 0}\n"
    ".facts dt{font-weight:600}\n"
    ".facts dd{margin:0;overflow-wrap:anywhere}\n"
    ".downloads{padding-left:1.2rem}\n"
    ".downloads li{margin:.75rem 0}\n"
    ".downloads form{margin:.5rem 0}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d0d7de;"
    "vertical-align:top}\n"
    "details{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .75rem;"
    "margin:.5rem 0}\n"
    "summary{cursor:pointer;font-weight:600}\n"
    ".secret{display:flex;flex-wrap:wrap;align-items:center;gap:.75rem;margin:1rem 0}\n"
    ".password code{display:inline-block;font-family:\"DejaVu Sans Mono\",\"Cascadia Mono\","
    "Consolas,\"Liberation Mono\",Menlo,monospace;font-variant-numeric:slashed-zero;"
    "font-size:1.5rem;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;"
    "padding:.4rem .7rem;color:#1b1f24}\n"
    ".password span{display:inline-block;margin-right:.6em}\n"
    ".password span:last-child{margin-right:0}\n"
    ".actions{display:flex;flex-wrap:wrap;align-items:center;gap:1rem}\n"
    ".foot{max-width:46rem;margin:0 auto 2rem;padding:0 1.5rem;color:#3d444d}\n"
    "@media (max-width:600px){main{margin:0;border:0;border-radius:0;padding:1rem}"
    "h1{font-size:1.4rem}.facts{grid-template-columns:1fr}.facts dd{margin-bottom:.5rem}"
    "th,td{padding:.35rem .25rem}.foot{padding:1rem}"
    ".password code{font-size:1.25rem}}\n";

/* The copy button of the password page: hidden in the page, shown by this
 * script where the clipboard can be written, so without it (or without
 * script) the page is whole and the password is selected by hand. */
static const char js[] =
    "(function () {\n"
    "\t'use strict';\n"
    "\tfunction setup() {\n"
    "\t\tvar buttons = document.querySelectorAll('button[data-copy]');\n"
    "\t\tArray.prototype.forEach.call(buttons, function (btn) {\n"
    "\t\t\tvar target = document.getElementById(btn.getAttribute('data-copy'));\n"
    "\t\t\tvar status = document.getElementById(btn.getAttribute('data-done'));\n"
    "\t\t\tif (!target || !navigator.clipboard || !window.isSecureContext)\n"
    "\t\t\t\treturn;\n"
    "\t\t\tbtn.hidden = false;\n"
    "\t\t\tbtn.addEventListener('click', function () {\n"
    "\t\t\t\tnavigator.clipboard.writeText(target.textContent).then(function () {\n"
    "\t\t\t\t\tif (status) status.textContent = 'Copied.';\n"
    "\t\t\t\t}, function () {\n"
    "\t\t\t\t\tif (status) status.textContent = 'Copying did not work: select the "
    "password and copy it.';\n"
    "\t\t\t\t});\n"
    "\t\t\t});\n"
    "\t\t});\n"
    "\t}\n"
    "\tif (document.readyState === 'loading')\n"
    "\t\tdocument.addEventListener('DOMContentLoaded', setup);\n"
    "\telse\n"
    "\t\tsetup();\n"
    "})();\n";

void portal_static(portal_req *r, p11e_portal_route route)
{
	const p11e_portal_conf *c = r->p->conf;

	r->cache_control = "public, max-age=3600";
	if (route == P11E_ROUTE_STATIC_CSS) {
		portal_send(r, 200, "text/css; charset=utf-8", css, sizeof(css) - 1, NULL, NULL);
	} else if (route == P11E_ROUTE_STATIC_JS) {
		portal_send(r, 200, "text/javascript; charset=utf-8", js, sizeof(js) - 1, NULL,
			    NULL);
	} else if (c->logo_data != NULL) {
		portal_send(r, 200, c->logo_type, c->logo_data, c->logo_len, NULL, NULL);
	} else {
		r->cache_control = NULL;
		portal_page_error(r, 404, "there is no logo: portal.logo is not set");
	}
}
