// The portal's pages in a real browser (tests/integration/portal_chromium.sh
// runs this): puppeteer-core drives Debian's headless Chromium through the
// DevTools protocol. Two users:
//   - a user with an invitation code (a browser profile without a client
//     certificate): signs in, requests a certificate, downloads the key and
//     certificate file, reveals and copies its password, renews, revokes
//     ("I lost my laptop"), requests a new one, meets an error page and
//     signs out;
//   - alice, whose client certificate Chromium presents by itself (the
//     managed AutoSelectCertificateForUrls policy the shell script sets up):
//     signed in without a form, downloads her certificate.
// A user whose key is on a card sees it and reports it lost.
// Every page is checked with axe-core for WCAG 2.1 AA (tags wcag2a, wcag2aa,
// wcag21a, wcag21aa) at desktop (1280 px) and phone (390 px) widths, and
// photographed at both into OUT. The pages' CSP (default-src 'self') forbids
// inline script, so axe is not added as a <script> element: its source is
// evaluated through the DevTools protocol (page.evaluate, Runtime.evaluate),
// which CSP does not govern; the page's own policy stays on (no bypassCSP).
//
// Environment: CHROMIUM, PORTAL_URL, OUT (screenshots, downloads, results),
// CODE_HOME and CERT_HOME (HOME of each browser: its NSS database),
// CODE_EMAIL and CODE (the invitation), CERT_EMAIL.
// Exit 0 when every check passed; each failure is one "FAIL: ..." line.
'use strict';

const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const env = (name) => {
	const v = process.env[name];
	if (!v) {
		console.error(`portal.js: ${name} is not set`);
		process.exit(2);
	}
	return v;
};
const CHROMIUM = env('CHROMIUM');
const URL0 = env('PORTAL_URL');
const OUT = env('OUT');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
// A loaded 2-core machine under ASan: generous, never a measure of speed.
const TIMEOUT = 180000;
const WIDTHS = [
	['desktop', 1280, 800],
	['phone', 390, 844],
];

let failures = 0;
const fail = (what) => {
	failures++;
	console.log(`FAIL: ${what}`);
};
const ok = (what) => console.log(`ok: ${what}`);
const check = (what, cond, detail) => (cond ? ok(what) : fail(`${what}${detail ? ': ' + detail : ''}`));

async function launch(home, dir) {
	return puppeteer.launch({
		executablePath: CHROMIUM,
		headless: true, // the new headless mode (--headless=new)
		userDataDir: path.join(OUT, dir),
		env: { ...process.env, HOME: home },
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
		timeout: TIMEOUT,
		protocolTimeout: 2 * TIMEOUT,
	});
}

async function newPage(browser, downloads) {
	const page = await browser.newPage();
	page.setDefaultTimeout(TIMEOUT);
	page.setDefaultNavigationTimeout(TIMEOUT);
	const cdp = await page.target().createCDPSession();
	fs.mkdirSync(downloads, { recursive: true });
	await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
	return page;
}

// axe-core on the page as it is: the number of violations (each printed).
// A run that checked nothing (no rule passed) counts as a failure too.
async function axe(page, name) {
	await page.evaluate(AXE);
	const res = await page.evaluate(async () => {
		const r = await window.axe.run(document, {
			runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
		});
		return {
			passes: r.passes.length,
			violations: r.violations.map((v) => ({
				id: v.id,
				help: v.help,
				nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
			})),
		};
	});
	for (const v of res.violations) console.log(`  axe ${name}: ${v.id}: ${v.help} (${v.nodes.join(', ')})`);
	check(`${name}: axe checked something`, res.passes > 0, 'no rule passed');
	return res.violations.length;
}

// The check itself can fail: a page with an image without alt text and no
// language has violations.
async function axeSelfTest(browser) {
	const page = await browser.newPage();
	await page.setContent('<!DOCTYPE html><html><head><title>t</title></head><body><img src="x.png"></body></html>');
	const n = await axe(page, 'a bad page');
	console.log('(the violations above are expected)');
	check('axe finds the violations of a bad page', n >= 2, `${n} found`);
	await page.close();
}

// Each page at both widths: axe, a screenshot, and no horizontal scrolling.
async function snap(page, name) {
	for (const [label, width, height] of WIDTHS) {
		await page.setViewport({ width, height, deviceScaleFactor: 1 });
		const n = await axe(page, `${name} (${label})`);
		check(`${name} at ${width} px: no WCAG 2.1 AA violation`, n === 0, `${n} violations`);
		const overflow = await page.evaluate(
			() => document.documentElement.scrollWidth - document.documentElement.clientWidth
		);
		check(`${name} at ${width} px: nothing wider than the screen`, overflow <= 0, `${overflow} px more`);
		await page.screenshot({ path: path.join(OUT, `portal-${name}-${label}.png`), fullPage: true });
	}
	await page.setViewport({ width: 1280, height: 800, deviceScaleFactor: 1 });
}

const h1 = (page) => page.$eval('h1', (e) => e.textContent);
const text = (page) => page.evaluate(() => document.body.innerText);

// Clicks sel and waits for the page it leads to.
async function follow(page, sel) {
	const [resp] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(sel)]);
	return resp;
}

// Clicks a download link and waits for the whole file (no .crdownload).
async function download(page, sel, dir, name) {
	const before = new Set(fs.readdirSync(dir));
	await page.click(sel);
	for (let waited = 0; waited < TIMEOUT; waited += 200) {
		const files = fs.readdirSync(dir).filter((f) => !before.has(f));
		if (files.length > 0 && !files.some((f) => f.endsWith('.crdownload'))) {
			fs.renameSync(path.join(dir, files[0]), path.join(OUT, name));
			return true;
		}
		await new Promise((r) => setTimeout(r, 200));
	}
	return false;
}

async function codeUser() {
	const browser = await launch(env('CODE_HOME'), 'profile-code');
	const dl = path.join(OUT, 'downloads-code');
	try {
		await axeSelfTest(browser);
		const page = await newPage(browser, dl);
		await browser.defaultBrowserContext().overridePermissions(URL0, [
			'clipboard-read',
			'clipboard-write',
			'clipboard-sanitized-write',
		]);
		let resp = await page.goto(URL0 + '/', { waitUntil: 'load' });
		check('sign-in page: 200', resp.status() === 200, String(resp.status()));
		check('sign-in page: its title', (await h1(page)) === 'Sign in');
		await snap(page, 'signin');

		await page.type('#email', env('CODE_EMAIL'));
		await page.type('#code', env('CODE'));
		resp = await follow(page, 'button[type=submit]');
		check('signed in with the code', (await h1(page)) === 'Your certificate', await h1(page));
		const t = await text(page);
		check('says when the session ends', /Your session ends at \d\d:\d\d UTC/.test(t));
		check('no certificate yet', t.includes('You have no certificate yet.'));
		await snap(page, 'request');

		await follow(page, '#request');
		check('requested: Ready', (await page.$eval('#state', (e) => e.textContent)) === 'Ready');
		check(
			'valid until, in words',
			/^\d{1,2} [A-Z][a-z]+ \d{4} \(in \d+ days\)$/.test(await page.$eval('#valid-until', (e) => e.textContent))
		);
		await snap(page, 'home');
		check('the key and certificate file downloaded', await download(page, '#download-pfx', dl, 'code.p12'));

		await follow(page, '#show-password');
		check('the password page', (await h1(page)) === 'Your password');
		const pw = await page.$eval('#password', (e) => e.textContent);
		check('a password is shown', pw.length >= 8, `${pw.length} characters`);
		fs.writeFileSync(path.join(OUT, 'code.pw'), pw, { mode: 0o600 });
		const copyShown = await page.$eval('button.copy', (b) => !b.hidden);
		check('the script shows the copy button', copyShown);
		if (copyShown) {
			await page.click('button.copy');
			await page.waitForFunction(() => document.getElementById('copy-status').textContent !== '');
			check('it says Copied', (await page.$eval('#copy-status', (e) => e.textContent)) === 'Copied.');
			const clip = await page.evaluate(() => navigator.clipboard.readText());
			check('the clipboard holds the password, without spaces', clip === pw);
		}
		await snap(page, 'password');

		await page.goto(URL0 + '/', { waitUntil: 'load' });
		await follow(page, '#renew');
		check('renewed', (await h1(page)) === 'Your certificate is renewed', await h1(page));
		await snap(page, 'renewed');

		await page.goto(URL0 + '/', { waitUntil: 'load' });
		await follow(page, '#revoke');
		check('the confirmation page', (await h1(page)) === 'Revoke my certificate');
		await snap(page, 'revoke');
		// The box is required: the browser does not send the form without it.
		await page.click('#revoke-confirm');
		await new Promise((r) => setTimeout(r, 1000));
		check('not sent without the ticked box', (await h1(page)) === 'Revoke my certificate');
		await page.click('#confirm');
		await follow(page, '#revoke-confirm');
		check('revoked', (await h1(page)) === 'Your certificate is revoked', await h1(page));
		await snap(page, 'revoked');

		await page.goto(URL0 + '/', { waitUntil: 'load' });
		check('home: Revoked', (await page.$eval('#state', (e) => e.textContent)) === 'Revoked');
		await follow(page, '#request');
		check('a new one: Ready', (await page.$eval('#state', (e) => e.textContent)) === 'Ready');
		const rows = await page.$$eval('#history tbody tr', (trs) =>
			trs.map((tr) => Array.from(tr.cells, (c) => c.textContent).slice(0, 2).join(' '))
		);
		check(
			'the history: 3 Ready, 2 Revoked, 1 Replaced',
			rows.join('|') === '3 Ready|2 Revoked|1 Replaced by a newer one',
			rows.join('|')
		);
		await snap(page, 'history');

		resp = await page.goto(URL0 + '/no/such/page', { waitUntil: 'load' });
		check('an unknown page: 404', resp.status() === 404, String(resp.status()));
		check('an HTML error page', (await h1(page)) === 'Page not found');
		await snap(page, 'not-found');

		// The password form's own action and CSRF token, posted by the browser
		// from another origin (a page of its own, about:blank): Chromium sends
		// it as cross-site and the portal refuses it, token or not.
		await page.goto(URL0 + '/', { waitUntil: 'load' });
		const form = await page.$eval('#show-password', (b) => ({
			action: b.form.action,
			csrf: b.form.querySelector('input[name=csrf]').value,
		}));
		const foreign = await browser.newPage();
		await foreign.setContent(
			`<form method="post" action="${form.action}"><input type="hidden" name="csrf" value="${form.csrf}"></form>`
		);
		const [xresp] = await Promise.all([
			foreign.waitForNavigation({ waitUntil: 'load' }),
			foreign.$eval('form', (f) => f.submit()),
		]);
		check('a cross-site post of the password form: 403', xresp.status() === 403, String(xresp.status()));
		check('... no password in it', !(await text(foreign)).includes(await fs.promises.readFile(path.join(OUT, 'code.pw'), 'utf8')));
		await foreign.close();

		resp = await follow(page, '#sign-out');
		check('signed out: the sign-in page', (await h1(page)) === 'Sign in', await h1(page));
		await page.goto(URL0 + '/', { waitUntil: 'load' });
		check('still signed out on the next visit', (await h1(page)) === 'Sign in');
	} finally {
		await browser.close();
	}
}

async function certUser() {
	const browser = await launch(env('CERT_HOME'), 'profile-cert');
	const dl = path.join(OUT, 'downloads-cert');
	try {
		const page = await newPage(browser, dl);
		const resp = await page.goto(URL0 + '/', { waitUntil: 'load' });
		check('certificate: 200', resp.status() === 200, String(resp.status()));
		const t = await text(page);
		check(
			'signed in by the certificate',
			t.includes(`Signed in as ${env('CERT_EMAIL')} with your certificate.`),
			t.slice(0, 200)
		);
		check('no Sign out button for a certificate', (await page.$('#sign-out')) === null);
		await snap(page, 'home-certificate');
		check(
			'the certificate downloaded',
			await download(page, '#download-certificate', dl, 'cert-download.pem')
		);
	} finally {
		await browser.close();
	}
}

// A user whose key is on a card (issue 23): their cards page, then "I lost
// my card" through the confirmation page (the box required, an optional note).
async function cardUser() {
	const browser = await launch(env('CODE_HOME'), 'profile-card');
	const dl = path.join(OUT, 'downloads-card');
	try {
		const page = await newPage(browser, dl);
		await page.goto(URL0 + '/', { waitUntil: 'load' });
		await page.type('#email', env('CARD_EMAIL'));
		await page.type('#code', env('CARD_CODE'));
		await follow(page, 'button[type=submit]');
		check('card user: signed in', (await h1(page)) === 'Your certificate', await h1(page));
		await follow(page, '#cards-link');
		check('the cards page', (await h1(page)) === 'Your cards', await h1(page));
		const state = () => page.$eval('#cards .badge', (e) => e.textContent);
		check('the card: In use', (await state()) === 'In use', await state());
		await snap(page, 'cards');
		await follow(page, '#cards a.button');
		check('the lost card confirmation page', (await h1(page)) === 'Report my card lost');
		await snap(page, 'card-lost');
		await page.click('#lost-confirm');
		await new Promise((r) => setTimeout(r, 1000));
		check('not sent without the ticked box', (await h1(page)) === 'Report my card lost');
		await page.type('#reason', 'left it on the bus');
		await page.click('#confirm');
		await follow(page, '#lost-confirm');
		check('reported', (await h1(page)) === 'Your card is reported lost', await h1(page));
		await snap(page, 'card-reported');
		await page.goto(URL0 + '/cards', { waitUntil: 'load' });
		check('the card: Reported lost', (await state()).startsWith('Reported lost'), await state());
		check('no report link any more', (await page.$('#cards a.button')) === null);
	} finally {
		await browser.close();
	}
}

(async () => {
	const started = Date.now();
	try {
		await codeUser();
		await certUser();
		await cardUser();
	} catch (e) {
		fail(`the browser run stopped: ${e && e.stack ? e.stack : e}`);
	}
	console.log(`browser flows: ${((Date.now() - started) / 1000).toFixed(1)} s, ${failures} failures`);
	process.exit(failures === 0 ? 0 : 1);
})();
