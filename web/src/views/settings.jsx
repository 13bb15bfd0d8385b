// Settings: this device, the spaces it belongs to, joining another space and
// (for admins) inviting people.
import { useState } from 'preact/hooks';
import { t, fmt } from '../i18n.js';
import { getDb, useQuery, setCurrentSpace } from '../db.js';
import { FormError } from '../components/form.jsx';

function Invite({ space }) {
  const [role, setRole] = useState('editor');
  const [invite, setInvite] = useState(null);
  const [error, setError] = useState(null);
  const make = async () => {
    setError(null);
    try {
      const r = await getDb().createInvite(space, role);
      setInvite(r);
    } catch (e) {
      setError(e);
    }
  };
  const link = invite && new URL(`#/join/${invite.code}`, location.href).href;
  return (
    <section class="card" aria-labelledby="invite-h">
      <h2 id="invite-h">{t('settings.inviteTitle')}</h2>
      <p>{t('settings.inviteIntro')}</p>
      <div class="actions">
        <label>
          {t('settings.role')}{' '}
          <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            {['viewer', 'editor', 'admin'].map((r) => (
              <option key={r} value={r}>
                {t(`settings.role_${r}`)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={make}>
          {t('settings.makeInvite')}
        </button>
      </div>
      <FormError error={error} />
      {invite && (
        <div class="invite" data-testid="invite">
          <label for="invite-link">{t('settings.inviteLink')}</label>
          <input id="invite-link" readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
          <p class="hint">{t('settings.inviteExpires', { when: fmt.dateTime(invite.expires) })}</p>
        </div>
      )}
    </section>
  );
}

export function Settings({ space, spaces, onSpaces }) {
  const device = useQuery(null, (db) => db.device(), []);
  const me = spaces.find((s) => s.space === space);
  return (
    <div class="page">
      <h1>{t('settings.title')}</h1>
      <section class="card" aria-labelledby="device-h">
        <h2 id="device-h">{t('settings.device')}</h2>
        <p>
          {t('settings.deviceKey')} <code class="key">{device.data || '…'}</code>
        </p>
      </section>
      <section class="card" aria-labelledby="spaces-h">
        <h2 id="spaces-h">{t('settings.spaces')}</h2>
        <ul class="plain">
          {spaces.map((s) => (
            <li key={s.space}>
              <button type="button" class="link" aria-pressed={s.space === space} onClick={() => setCurrentSpace(s.space)}>
                {s.name || s.space.slice(0, 8)}
              </button>{' '}
              <span class="muted">{t(`settings.role_${s.role}`)}</span>
            </li>
          ))}
        </ul>
        <p>
          <a href="#/join/">{t('settings.joinAnother')}</a>
        </p>
      </section>
      {me && me.role === 'admin' && <Invite space={space} />}
    </div>
  );
}
