// Rendering a page: the view inside the layout, with what every page shows (the user, the form
// token, the one-time message) and `Cache-Control: no-store` (pages hold app data). Also the
// after-a-form redirect with its message (post/redirect/get).
import type { Views } from './views.ts';
import type { Flash, Sessions } from './session.ts';
import type { WebCtx } from './http.ts';

export class Pages {
  constructor(private readonly views: Views, private readonly sessions: Sessions) {}

  async render(ctx: WebCtx, view: string, title: string, data: Record<string, unknown> = {}, status = 200): Promise<void> {
    const s = ctx.state.session;
    const flash = s ? await this.sessions.takeFlash(s) : undefined;
    const common = { title, user: s?.user, csrf: s?.csrf, ...data };
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = this.views('layout', { ...common, flash, body: this.views(view, common) });
  }

  error(ctx: WebCtx, status: number, title: string, message: string): void {
    const s = ctx.state.session;
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    const data = { title, message, status, user: s?.user, csrf: s?.csrf };
    ctx.body = this.views('layout', { ...data, body: this.views('error', data) });
  }

  /** 303 to `to` with a message for the page there. */
  async back(ctx: WebCtx, to: string, flash?: Flash): Promise<void> {
    if (flash && ctx.state.session) await this.sessions.setFlash(ctx.state.session, flash);
    ctx.redirect(to);
    ctx.status = 303;
  }
}
