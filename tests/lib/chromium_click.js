// For tests of the portal in a real browser: loads URL in Chromium, clicks the element
// SELECTOR (a form's submit button: the pages have no script of their own), waits for
// the next page, and writes its DOM to OUT.dom, a screenshot to OUT.png and the headers
// Chromium sent with the click's request to OUT.headers (JSON). Driven over the DevTools
// protocol on a pipe (--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4), with
// node's standard library only.
//   node chromium_click.js CHROMIUM URL SELECTOR OUT [CHROMIUM_FLAGS...]
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');

const [chromium, url, selector, out, ...flags] = process.argv.slice(2);
const browser = spawn(chromium, [...flags, '--remote-debugging-pipe', 'about:blank'], {
	stdio: ['ignore', 'ignore', 'inherit', 'pipe', 'pipe'],
});
const toBrowser = browser.stdio[3];
const fromBrowser = browser.stdio[4];
const pending = new Map();
const listeners = new Set();
let lastId = 0;
let buffered = '';

fromBrowser.on('data', (chunk) => {
	buffered += chunk.toString();
	for (let end; (end = buffered.indexOf('\0')) >= 0; ) {
		const msg = JSON.parse(buffered.slice(0, end));
		buffered = buffered.slice(end + 1);
		if (msg.id !== undefined && pending.has(msg.id)) {
			pending.get(msg.id)(msg);
			pending.delete(msg.id);
		} else {
			for (const l of [...listeners]) l(msg);
		}
	}
});

function send(method, params = {}, sessionId = undefined) {
	return new Promise((resolve, reject) => {
		const id = ++lastId;
		pending.set(id, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)));
		toBrowser.write(JSON.stringify({ id, method, params, sessionId }) + '\0');
	});
}

function next(event, sessionId, match = () => true) {
	return new Promise((resolve) => {
		const l = (msg) => {
			if (msg.method === event && msg.sessionId === sessionId && match(msg.params)) {
				listeners.delete(l);
				resolve(msg.params);
			}
		};
		listeners.add(l);
	});
}

function fail(why) {
	console.error(`chromium_click: ${why}`);
	browser.kill();
	process.exit(1);
}

setTimeout(() => fail('timed out after 120 s'), 120000);
(async () => {
	const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
	const { sessionId: s } = await send('Target.attachToTarget', { targetId, flatten: true });
	await send('Page.enable', {}, s);
	// The headers as sent (Origin, Sec-Fetch-Site...), which may come before or
	// after the request's own event.
	const sentHeaders = new Map();
	listeners.add((msg) => {
		if (msg.method === 'Network.requestWillBeSentExtraInfo' && msg.sessionId === s)
			sentHeaders.set(msg.params.requestId, msg.params.headers);
	});
	await send('Network.enable', {}, s);
	let loaded = next('Page.loadEventFired', s);
	await send('Page.navigate', { url }, s);
	await loaded;
	// The click's request: the first one after it that is not a GET.
	const sent = next('Network.requestWillBeSent', s, (p) => p.request.method !== 'GET');
	loaded = next('Page.loadEventFired', s);
	const click = await send('Runtime.evaluate',
		{ expression: `(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return false; e.click(); return true; })()`, returnByValue: true }, s);
	if (!click.result.value) fail(`no ${selector} on ${url}`);
	const { requestId } = await sent;
	await loaded;
	for (let i = 0; i < 50 && !sentHeaders.has(requestId); i++)
		await new Promise((r) => setTimeout(r, 100));
	fs.writeFileSync(`${out}.headers`, JSON.stringify(sentHeaders.get(requestId) || {}));
	const dom = await send('Runtime.evaluate', { expression: 'document.documentElement.outerHTML', returnByValue: true }, s);
	fs.writeFileSync(`${out}.dom`, dom.result.value);
	const shot = await send('Page.captureScreenshot', { format: 'png' }, s);
	fs.writeFileSync(`${out}.png`, Buffer.from(shot.data, 'base64'));
	await send('Browser.close').catch(() => {});
	process.exit(0);
})().catch((e) => fail(e.message));
