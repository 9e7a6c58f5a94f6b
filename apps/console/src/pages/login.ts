import { html } from 'hono/html';
import { errorBox, type Html, notice, page } from '../layout.js';
import { MECHANISMS, type Mechanism } from '../sessions.js';

/** The login form: SASL username, password and mechanism; `next` is where to go once logged in. */
export function loginPage(o: {
  next: string;
  username?: string;
  mechanism: Mechanism;
  error?: { kind: string; message: string };
  flash?: string | null;
}): Html {
  return page(
    'Log in',
    html`${o.flash ? notice(o.flash) : ''}${o.error ? errorBox(o.error.kind, o.error.message) : ''}
<form method="post" action="/login" id="login" class="login">
<input type="hidden" name="next" value="${o.next}">
<label>Username <input name="username" required maxlength="256" autocomplete="username" value="${o.username ?? ''}" autofocus></label>
<label>Password <input name="password" type="password" required maxlength="1024" autocomplete="current-password"></label>
<label>Mechanism <select name="mechanism">${MECHANISMS.map(
      (m) => html`<option${m === o.mechanism ? html` selected` : ''}>${m}</option>`,
    )}</select></label>
<button>Log in</button>
</form>
<p class="muted">The console logs in to the cluster with these SASL credentials; every page then shows what this user may see.</p>`,
    { bare: true },
  );
}
