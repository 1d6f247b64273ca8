// The dashboard's Handlebars views: every template in views/ (partials in views/partials/)
// compiled once at start, and the helpers they use. `loadViews()` gives a function that renders one
// view by name (pages.ts puts a page inside the layout).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { sparkline } from './present.ts';

const DIR = join(import.meta.dirname, 'views');

export type Views = (name: string, data: Record<string, unknown>) => string;

export function loadViews(): Views {
  const hb = Handlebars.create();
  for (const f of readdirSync(join(DIR, 'partials'))) {
    if (f.endsWith('.hbs')) hb.registerPartial(f.slice(0, -4), readFileSync(join(DIR, 'partials', f), 'utf8'));
  }
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('short', (id: unknown) => (typeof id === 'string' ? id.slice(0, 12) : ''));
  hb.registerHelper('ago', (iso: unknown) => ago(iso));
  hb.registerHelper('since', (iso: unknown) => since(iso));
  hb.registerHelper('clock', (iso: unknown) => clock(iso));
  hb.registerHelper('when', (iso: unknown) => (typeof iso === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(iso) ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : ''));
  hb.registerHelper('took', (from: unknown, to: unknown) => took(from, to));
  hb.registerHelper('plural', (n: unknown, one: string, many: string) => `${n} ${n === 1 ? one : many}`);
  hb.registerHelper('spark', (values: unknown, label: unknown, unit: unknown) =>
    new hb.SafeString(sparkline(Array.isArray(values) ? values.filter((v): v is number => typeof v === 'number') : [], String(label), String(unit ?? ''))));
  const pages = new Map<string, HandlebarsTemplateDelegate>();
  for (const f of readdirSync(DIR)) {
    if (f.endsWith('.hbs')) pages.set(f.slice(0, -4), hb.compile(readFileSync(join(DIR, f), 'utf8'), { strict: false }));
  }
  return (name, data) => {
    const page = pages.get(name);
    if (!page) throw new Error(`no view ${name}`);
    return page(data);
  };
}

/** "3 minutes ago" from an RFC 3339 time (the exact time goes in a <time> element's title). */
function ago(iso: unknown): string {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
  if (Number.isNaN(t)) return '';
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 10) return 'just now';
  return `${span(s)} ago`;
}

/** How long since a time, for uptimes: "4m 10s", "3h 2m", "2d 5h". */
function since(iso: unknown): string {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function span(s: number): string {
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'a minute' : `${m} minutes`;
  const h = Math.round(m / 60);
  if (h < 48) return h === 1 ? 'an hour' : `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

/** The time of day (UTC) of an RFC 3339 time, for log lines: "14:03:07". */
function clock(iso: unknown): string {
  return typeof iso === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(iso) ? iso.slice(11, 19) : '';
}

/** How long from one time to another: "3.6 s", "2 min 5 s". */
function took(from: unknown, to: unknown): string {
  const a = typeof from === 'string' ? Date.parse(from) : NaN;
  const b = typeof to === 'string' ? Date.parse(to) : NaN;
  if (Number.isNaN(a) || Number.isNaN(b)) return '';
  const s = Math.max(0, (b - a) / 1000);
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
