// Sign in (and create an account) with the same accounts and tokens as the API.

import { api, setSession } from '../api.js';
import { busy, clearErrors, field, h, showErrors } from '../ui.js';

export function render(main, ctx) {
  let mode = 'login';
  const why = ctx.signedOutReason();
  const email = h('input', { type: 'email', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { class: 'btn', type: 'submit', id: 'login-submit' }, 'Sign in');
  const title = h('h1', {}, 'Sign in');
  const switcher = h('button', { class: 'btn ghost small', type: 'button' }, 'Create an account');
  const form = h('form', { class: 'panel', id: 'login-form', novalidate: true },
    title,
    h('p', { class: 'muted' }, 'The operator console of this simgate box.'),
    why ? h('div', { class: 'form-error', role: 'alert' }, why) : h('div', { class: 'form-error', role: 'alert', hidden: true }),
    field('f-email', 'Email', email),
    field('f-password', 'Password', password),
    submit,
    h('p', { class: 'small muted', style: 'margin-top:1rem;text-align:center' }, switcher));

  switcher.addEventListener('click', () => {
    mode = mode === 'login' ? 'register' : 'login';
    title.textContent = mode === 'login' ? 'Sign in' : 'Create an account';
    submit.textContent = mode === 'login' ? 'Sign in' : 'Create account';
    switcher.textContent = mode === 'login' ? 'Create an account' : 'I already have an account';
    password.autocomplete = mode === 'login' ? 'current-password' : 'new-password';
    clearErrors(form);
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    await busy(submit, mode === 'login' ? 'Signing in…' : 'Creating…', async () => {
      try {
        const data = await api(mode === 'login' ? '/auth/login' : '/auth/register', {
          method: 'POST',
          body: { email: email.value.trim(), password: password.value },
        });
        setSession(data);
        ctx.navigate('/', true);
      } catch (err) {
        showErrors(form, err);
      }
    });
  });

  main.append(h('div', { class: 'auth' },
    h('div', { class: 'brand' }, 'simgate'),
    form));
  email.focus();
}
