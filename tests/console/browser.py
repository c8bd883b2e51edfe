"""A real browser for the console's tests: Debian's Chromium (`/usr/bin/chromium`, which
scripts/install installs when it runs as root) driven by Playwright, never a browser Playwright
downloads. Checks every page can be put through: labels, names, contrast, no sideways scrolling.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Browser, Page, Playwright

CHROMIUM = Path(os.environ.get("BREAKWATER_CHROMIUM", "/usr/bin/chromium"))
# Root needs --no-sandbox; the rest keep a closed network quiet and the start fast.
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)


# What a person with a screen reader, a keyboard or weak eyes needs of a page, checked in the page:
# each problem is a line of text; none is the pass.
_AUDIT = """() => {
  const problems = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const name = (el) => (el.getAttribute("aria-label") || "").trim()
    || (el.getAttribute("aria-labelledby") || "").split(" ").map((id) => {
         const t = document.getElementById(id); return t ? t.textContent.trim() : ""; }).join(" ").trim()
    || (el.labels && Array.from(el.labels).map((l) => l.textContent.trim()).join(" ").trim())
    || (el.tagName === "BUTTON" || el.tagName === "A" ? el.textContent.trim() : "");
  if (!document.documentElement.lang) problems.push("the page has no lang");
  if (document.querySelectorAll("h1").length !== 1) problems.push("the page needs one h1");
  if (!document.querySelector("main")) problems.push("the page has no main landmark");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]")) {
    if (visible(el) && !name(el)) problems.push("no accessible name: " + el.outerHTML.slice(0, 80));
  }
  for (const svg of document.querySelectorAll("svg")) {
    const title = svg.querySelector("title");
    if (svg.getAttribute("role") !== "img" || !title || !title.textContent.trim() || !name(svg))
      problems.push("a chart without role=img and a name");
  }
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll("body *")) {
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !visible(el) || el.closest("svg")) continue;
    const style = getComputedStyle(el);
    const fg = luminance(rgb(style.color).slice(0, 3)), bg = luminance(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed)
      problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: ${el.tagName} `
        + `"${el.textContent.trim().slice(0, 30)}"`);
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push(
      `the page scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
  return problems;
}"""


async def audit(page: Page) -> list[str]:
    problems: list[str] = await page.evaluate(_AUDIT)
    return problems


async def shot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
