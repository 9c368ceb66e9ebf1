/* Building the rating page's elements (main.js, flipscreen.js). */

/** A `tag` element with attributes (true: present, false/null/undefined: absent) and text. */
export function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === true) node.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  if (text) node.textContent = text;
  return node;
}
