// Which hostnames are public suffixes (names under which anyone may register: `com`, `co.uk`,
// `github.io`), so no app can claim one as a custom domain, nor a wildcard over one (L2, H3).
// A small built-in list, not the whole Public Suffix List (https://publicsuffix.org/list/):
// the npm `psl` package carries a dependency, and a stale full copy is no better than a short
// one kept on purpose. It holds the generic TLDs' common second levels under country codes
// (`co.*`, `com.*`, `org.*` …, by rule) and the shared hosting suffixes people meet most.
// A name not listed here may still be a public suffix: domain verification (domain-verify.ts)
// is the real wall for custom domains; this list only refuses the obvious at once.

/** Second-level labels that are public under (almost) every two-letter country code. */
const CC_SECOND_LEVELS = new Set(['ac', 'co', 'com', 'edu', 'gov', 'gob', 'mil', 'net', 'nic', 'or', 'org', 'ne', 'go', 'gv', 'sch', 'ltd', 'plc', 'nom', 'info', 'biz']);

/** Listed suffixes beyond single labels and the `<second level>.<cc>` rule. */
const LISTED = new Set([
  // country-code second levels the rule above misses
  'me.uk', 'nhs.uk', 'police.uk', 'gc.ca', 'qc.ca', 'on.ca', 'bc.ca', 'ab.ca', 'asn.au', 'id.au',
  'ad.jp', 'ed.jp', 'gr.jp', 'lg.jp', 'kyoto.jp', 'tokyo.jp', 'osaka.jp', 'priv.no', 'tm.fr', 'asso.fr',
  'gouv.fr', 'blogspot.com', 'eu.com', 'uk.com', 'us.com', 'cn.com', 'de.com', 'us.org', 'za.net',
  // shared hosting and platform suffixes (each tenant gets <name>.<suffix>)
  'github.io', 'githubusercontent.com', 'gitlab.io', 'herokuapp.com', 'herokussl.com', 'vercel.app',
  'now.sh', 'netlify.app', 'netlify.com', 'pages.dev', 'workers.dev', 'r2.dev', 'web.app',
  'firebaseapp.com', 'appspot.com', 'cloudfunctions.net', 'run.app', 'azurewebsites.net',
  'azurestaticapps.net', 'cloudapp.net', 'trafficmanager.net', 'blob.core.windows.net',
  'cloudfront.net', 's3.amazonaws.com', 'elasticbeanstalk.com', 'amplifyapp.com', 'awsapprunner.com',
  'fly.dev', 'onrender.com', 'railway.app', 'up.railway.app', 'deno.dev', 'glitch.me', 'repl.co',
  'replit.app', 'ngrok.io', 'ngrok.app', 'ngrok-free.app', 'loca.lt', 'surge.sh', 'bitbucket.io',
  'readthedocs.io', 'pythonanywhere.com', 'fastly.net', 'global.ssl.fastly.net', 'duckdns.org',
  'dyndns.org', 'no-ip.org', 'ddns.net', 'myshopify.com', 'wixsite.com', 'wordpress.com',
  'blogspot.co.uk', 'tumblr.com', 'neocities.org', 'translate.goog', 'codeberg.page',
  // names that are nobody's (RFC 6761, RFC 6762, RFC 8375)
  'localhost', 'local', 'test', 'invalid', 'example', 'home.arpa', 'in-addr.arpa', 'ip6.arpa',
]);

/** True when `host` (lowercase, no trailing dot, no `*.`) is a public suffix by this list. */
export function isPublicSuffix(host: string): boolean {
  const labels = host.split('.');
  if (labels.length === 1) return true; // every top-level domain
  if (LISTED.has(host)) return true;
  return labels.length === 2 && labels[1]!.length === 2 && CC_SECOND_LEVELS.has(labels[0]!);
}
