// Onboarding: create this device's identity (a passphrase wraps its key),
// unlock it after a restart, and join a space by invite code (typed, or from
// a link #/join/CODE). A person who starts a network can create a space too.
import { useEffect, useLayoutEffect, useState, useRef } from 'preact/hooks';
import { t, fmt } from '../i18n.js';
import { LanguageSelect } from '../components/language-select.jsx';
import { getDb, openDb, setCurrentSpace, myName, setMyName, setIdentityHint } from '../db.js';
import { useSubmit, FormError } from '../components/form.jsx';
import { navigate } from '../router.js';

// The client's passphrase policy for a new identity (wasm/js/passphrase.js,
// the core's check_new_passphrase): at least 10 characters; the rest of the
// rule is checked by createIdentity, whose refusal is shown translated.
const MIN_PASSPHRASE = 10;

// `autofocus` focuses the input as it mounts: the attribute alone waits for
// the browser's next rendering step, and a keypress before it goes nowhere.
function Field({ id, label, hint, autofocus, ...input }) {
  const ref = useRef(null);
  useLayoutEffect(() => {
    if (autofocus) ref.current?.focus();
  }, [autofocus]);
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input ref={ref} id={id} aria-describedby={hint ? `${id}-hint` : undefined} autofocus={autofocus} {...input} />
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

function CreateIdentity({ onDone }) {
  const [name, setName] = useState(myName());
  const [pass, setPass] = useState('');
  const [again, setAgain] = useState('');
  const { busy, error, setError, run } = useSubmit();
  const submit = (e) => {
    e.preventDefault();
    if (pass.length < MIN_PASSPHRASE) return setError(t('onboarding.passTooShort', { count: MIN_PASSPHRASE }));
    if (pass !== again) return setError(t('onboarding.passMismatch'));
    return run(async () => {
      setMyName(name.trim());
      try {
        // UTF-8 bytes, which the client zeroes once used (the typed string
        // itself cannot be wiped from JavaScript; the fields are cleared).
        await getDb().createIdentity(new TextEncoder().encode(pass)); // also opens the replica
      } catch (e) {
        if (e && e.codeName === 'InvalidArgument' && /weak passphrase/.test(e.message || ''))
          throw t('onboarding.passWeak');
        throw e;
      }
      setPass('');
      setAgain('');
      setIdentityHint(true);
      onDone();
    });
  };
  return (
    <form onSubmit={submit} class="card" data-testid="create-identity">
      <h2>{t('onboarding.createTitle')}</h2>
      <p>{t('onboarding.createIntro')}</p>
      <Field
        id="name"
        label={t('onboarding.yourName')}
        hint={t('onboarding.yourNameHint')}
        autocomplete="name"
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <Field
        id="pass"
        type="password"
        label={t('onboarding.passphrase')}
        hint={t('onboarding.passHint', { count: MIN_PASSPHRASE })}
        autocomplete="new-password"
        value={pass}
        onInput={(e) => setPass(e.currentTarget.value)}
        required
      />
      <Field
        id="pass2"
        type="password"
        label={t('onboarding.passphraseAgain')}
        autocomplete="new-password"
        value={again}
        onInput={(e) => setAgain(e.currentTarget.value)}
        required
      />
      <FormError error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? t('onboarding.creating') : t('onboarding.create')}
      </button>
    </form>
  );
}

function Unlock({ onDone }) {
  const [pass, setPass] = useState('');
  const { busy, error, run } = useSubmit();
  const submit = (e) => {
    e.preventDefault();
    return run(async () => {
      await (await openDb()).unlock(new TextEncoder().encode(pass)); // the worker may still be starting
      setPass('');
      onDone();
    });
  };
  return (
    <form onSubmit={submit} class="card" data-testid="unlock">
      <h2>{t('onboarding.unlockTitle')}</h2>
      <p>{t('onboarding.unlockIntro')}</p>
      <Field
        id="pass"
        type="password"
        label={t('onboarding.passphrase')}
        autocomplete="current-password"
        value={pass}
        onInput={(e) => setPass(e.currentTarget.value)}
        required
        autofocus
      />
      <FormError error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? t('onboarding.unlocking') : t('onboarding.unlock')}
      </button>
    </form>
  );
}

// An invite code as people paste it: the code itself, or a link holding it.
export function extractCode(text) {
  const s = text.trim();
  const m = /(urbis1-[A-Za-z0-9_-]+)/.exec(s);
  return m ? m[1] : s;
}

function Join({ code: initial, onDone, canCancel }) {
  const [code, setCode] = useState(initial || '');
  const [name, setName] = useState('');
  const [elapsed, setElapsed] = useState(0);
  const [received, setReceived] = useState(0);
  const { busy, error, run } = useSubmit();
  const started = useRef(0);
  useEffect(() => {
    if (!busy) return undefined;
    started.current = Date.now();
    const timer = setInterval(() => setElapsed(Math.round((Date.now() - started.current) / 1000)), 1000);
    return () => clearInterval(timer);
  }, [busy]);
  const join = (e) => {
    e.preventDefault();
    return run(async () => {
      setReceived(0);
      const { space } = await getDb().joinSpace(extractCode(code), { onProgress: (p) => setReceived(p.bytes) });
      setCurrentSpace(space);
      onDone();
    });
  };
  const create = (e) => {
    e.preventDefault();
    return run(async () => {
      const space = await getDb().createSpace(name.trim());
      setCurrentSpace(space);
      onDone();
    });
  };
  return (
    <div class="stack">
      <form onSubmit={join} class="card" data-testid="join">
        <h2>{t('onboarding.joinTitle')}</h2>
        <p>{t('onboarding.joinIntro')}</p>
        <Field
          id="code"
          label={t('onboarding.inviteCode')}
          hint={t('onboarding.inviteHint')}
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
          required
          autocomplete="off"
          spellcheck={false}
        />
        <FormError error={error} />
        {busy && (
          <p role="status" class="busy">
            <progress aria-label={t('onboarding.joining')} /> {t('onboarding.joiningElapsed', { count: elapsed })}
            {received > 0 && ` ${t('onboarding.joiningReceived', { size: fmt.bytes(received) })}`}
          </p>
        )}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || !code.trim()}>
            {t('onboarding.join')}
          </button>
          {canCancel && (
            <button type="button" onClick={() => navigate('#/discover')} disabled={busy}>
              {t('common.cancel')}
            </button>
          )}
        </div>
      </form>
      {!canCancel && (
        <form onSubmit={create} class="card">
          <h2>{t('onboarding.newSpaceTitle')}</h2>
          <p>{t('onboarding.newSpaceIntro')}</p>
          <Field
            id="space-name"
            label={t('onboarding.spaceName')}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            required
          />
          <button type="submit" disabled={busy || !name.trim()}>
            {t('onboarding.createSpace')}
          </button>
        </form>
      )}
    </div>
  );
}

export function Onboarding({ step, code, onDone, canCancel }) {
  return (
    <main id="main" class="onboarding" tabIndex={-1}>
      <div class="onboarding-head">
        <img src="icons/icon-192.png" alt="" width="56" height="56" />
        <h1>{t('onboarding.welcome')}</h1>
        <p>{t('onboarding.tagline')}</p>
        <LanguageSelect visible />
      </div>
      {step === 'create' && <CreateIdentity onDone={onDone} />}
      {step === 'unlock' && <Unlock onDone={onDone} />}
      {step === 'join' && <Join code={code} onDone={onDone} canCancel={canCancel} />}
    </main>
  );
}
