// Settings: this person (display name, role and cities here, device), the
// spaces this device belongs to, and the people of the current space: members
// with their name, role, cities and last seen, and pending invites. An admin
// changes a member's role and city scope, removes a member (after a confirm
// dialog), revokes a pending invite and invites several people at once (one
// code per person, a list to print).
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { getDb, useQuery, useAuthors, useSyncStatus, setCurrentSpace, myName, changeMyName } from '../db.js';
import { useCities, ROLES } from '../content.js';
import { useSubmit, FormError } from '../components/form.jsx';
import './settings.css';

const roleLabel = (role) => t(`settings.role_${ROLES.includes(role) ? role : 'none'}`);
const shortKey = (key) => t('common.deviceShort', { key: key.slice(0, 8) });

// The names of the cities of `scope` (ids), or "All cities" for none.
function cityNames(scope, cities) {
  if (!scope || scope.length === 0) return t('settings.allCities');
  return scope.map((id) => cities.get(id)?.name || id.slice(0, 8)).join(', ');
}

// A time as "3 hours ago", the full date and time as its title.
function When({ ms }) {
  return (
    <time dateTime={new Date(ms).toISOString()} title={fmt.dateTime(ms)}>
      {fmt.relative(ms)}
    </time>
  );
}

// Checkboxes of the space's cities (with a filter when there are many); the
// checked ones limit a role. None checked: the whole space.
function CityScope({ id, cities, value, onChange }) {
  const [filter, setFilter] = useState('');
  const all = [...cities.values()];
  const f = filter.trim().toLocaleLowerCase();
  const shown = f ? all.filter((c) => c.name.toLocaleLowerCase().includes(f) || value.includes(c.id)) : all;
  const toggle = (city, on) => onChange(on ? [...value, city] : value.filter((c) => c !== city));
  return (
    <fieldset class="city-scope" data-testid="city-scope">
      <legend>{t('settings.citiesLegend')}</legend>
      {all.length === 0 ? (
        <p class="hint">
          {t('settings.noCities')} <a href="#/new/city">{t('intake.addCity')}</a>
        </p>
      ) : (
        <>
          {all.length > 8 && (
            <div class="field">
              <label for={`${id}-filter`}>{t('settings.filterCities')}</label>
              <input
                id={`${id}-filter`}
                type="search"
                value={filter}
                dir="auto"
                onInput={(e) => setFilter(e.currentTarget.value)}
              />
            </div>
          )}
          <ul class="plain city-scope-list">
            {shown.map((c) => (
              <li key={c.id}>
                <input
                  type="checkbox"
                  id={`${id}-${c.id}`}
                  value={c.id}
                  checked={value.includes(c.id)}
                  onChange={(e) => toggle(c.id, e.currentTarget.checked)}
                />{' '}
                <label for={`${id}-${c.id}`} lang={c.nameLang} dir="auto">
                  {c.name}
                </label>
              </li>
            ))}
          </ul>
          <p class="hint" aria-live="polite">
            {value.length ? t('settings.citiesChosen', { count: value.length }) : t('settings.allCities')}
          </p>
        </>
      )}
    </fieldset>
  );
}

function RoleSelect({ id, value, onChange, label = t('settings.role') }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {roleLabel(r)}
          </option>
        ))}
      </select>
    </div>
  );
}

// ---- you ----------------------------------------------------------------------------

function Profile({ me, mine, entry, cities }) {
  const [name, setName] = useState(myName());
  const [saved, setSaved] = useState(false);
  const { busy, error, run } = useSubmit();
  const role = mine ? mine.role : undefined;
  const submit = async (e) => {
    e.preventDefault();
    setSaved(false);
    if (await run(() => changeMyName(name.trim()))) setSaved(true);
  };
  return (
    <section class="card" aria-labelledby="profile-h" data-testid="profile">
      <h2 id="profile-h">{t('settings.profileTitle')}</h2>
      <form class="profile-form" onSubmit={submit} data-testid="name-form">
        <div class="field">
          <label for="display-name">{t('settings.displayName')}</label>
          <input
            id="display-name"
            value={name}
            dir="auto"
            autocomplete="name"
            aria-describedby="display-name-hint"
            onInput={(e) => (setName(e.currentTarget.value), setSaved(false))}
          />
          <p class="hint" id="display-name-hint">
            {role === 'viewer' ? t('settings.nameLocalOnly') : t('settings.displayNameHint')}
          </p>
        </div>
        <button type="submit" class="primary" disabled={busy}>
          {t('settings.saveName')}
        </button>
        <p role="status" class="hint">
          {saved ? t('settings.nameSaved') : ''}
        </p>
        <FormError error={error} />
      </form>
      <dl class="profile-facts">
        <div>
          <dt>{t('settings.yourRole')}</dt>
          <dd data-testid="my-role" data-role={role || ''}>
            {role ? roleLabel(role) : '…'}
          </dd>
        </div>
        <div>
          <dt>{t('settings.yourCities')}</dt>
          <dd>{cityNames(entry && entry.scope, cities)}</dd>
        </div>
        <div>
          <dt>{t('settings.deviceKey')}</dt>
          <dd>
            <code class="key">{me || '…'}</code>
          </dd>
        </div>
      </dl>
    </section>
  );
}

// ---- people -------------------------------------------------------------------------

// The confirm dialog before removing a member (a modal <dialog>: focus stays
// inside, Escape cancels, focus returns to the Remove button).
function RemoveDialog({ dialog: ref, name, onConfirm, onClose, busy, error }) {
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d && d.open && d.close();
  }, []);
  return (
    <dialog
      ref={ref}
      class="card confirm"
      aria-labelledby="remove-h"
      aria-describedby="remove-text"
      data-testid="remove-dialog"
      onClose={onClose}
    >
      <h2 id="remove-h">{t('settings.removeTitle', { name })}</h2>
      <p id="remove-text">{t('settings.removeText', { name })}</p>
      <FormError error={error} />
      <div class="actions">
        <button type="button" class="danger" onClick={onConfirm} disabled={busy} data-testid="confirm-remove">
          {t('settings.removeConfirm')}
        </button>
        <button type="button" onClick={() => ref.current.close()} autofocus>
          {t('common.cancel')}
        </button>
      </div>
    </dialog>
  );
}

function MemberRow({ space, m, name, isMe, isAdmin, cities }) {
  const [editing, setEditing] = useState(false);
  const [role, setRole] = useState(m.role);
  const [scope, setScope] = useState(m.scope || []);
  const [removing, setRemoving] = useState(false);
  const save = useSubmit();
  const remove = useSubmit();
  const opener = useRef(null);
  const dialog = useRef(null);
  const removed = useRef(false);
  const shown = name || shortKey(m.device);
  const start = () => {
    setRole(m.role);
    setScope(m.scope || []);
    setEditing(true);
  };
  const submit = async (e) => {
    e.preventDefault();
    if (await save.run(() => getDb().setRole(space, m.device, role, { scope }))) setEditing(false);
  };
  const doRemove = async () => {
    if (!(await remove.run(() => getDb().removeMember(space, m.device)))) return;
    removed.current = true;
    if (dialog.current) dialog.current.close();
  };
  return (
    <tr data-testid="member" data-device={m.device} data-role={m.role}>
      <th scope="row">
        <span dir="auto">{shown}</span>
        {isMe && <span class="muted"> ({t('common.you')})</span>}
      </th>
      <td data-testid="member-role">{roleLabel(m.role)}</td>
      <td>{cityNames(m.scope, cities)}</td>
      <td>{m.lastSeen ? <When ms={m.lastSeen} /> : <span class="muted">{t('settings.neverSeen')}</span>}</td>
      {isAdmin && (
        <td class="member-actions">
          {!isMe && !editing && (
            <div class="actions">
              <button
                type="button"
                class="small"
                onClick={start}
                aria-label={t('settings.changeRoleOf', { name: shown })}
                data-testid="change-role"
              >
                {t('settings.changeRole')}
              </button>
              <button
                type="button"
                class="small"
                ref={opener}
                onClick={() => setRemoving(true)}
                aria-label={t('settings.removeOf', { name: shown })}
                data-testid="remove-member"
              >
                {t('settings.remove')}
              </button>
            </div>
          )}
          {editing && (
            <form
              class="role-form"
              onSubmit={submit}
              data-testid="role-form"
              aria-label={t('settings.changeRoleOf', { name: shown })}
            >
              <RoleSelect id={`role-${m.device}`} value={role} onChange={setRole} />
              <CityScope id={`scope-${m.device}`} cities={cities} value={scope} onChange={setScope} />
              <FormError error={save.error} />
              <div class="actions">
                <button type="submit" class="small primary" disabled={save.busy} data-testid="save-role">
                  {t('settings.saveRole')}
                </button>
                <button type="button" class="small" onClick={() => setEditing(false)}>
                  {t('common.cancel')}
                </button>
              </div>
            </form>
          )}
          {removing && (
            <RemoveDialog
              dialog={dialog}
              name={shown}
              busy={remove.busy}
              error={remove.error}
              onConfirm={doRemove}
              onClose={() => {
                setRemoving(false);
                // Back to Remove; once the member is gone (the row goes
                // with them), to the list's heading.
                const to = removed.current ? document.getElementById('people-h') : opener.current;
                if (to) to.focus();
              }}
            />
          )}
        </td>
      )}
    </tr>
  );
}

function PendingInvites({ space, invites, isAdmin, cities }) {
  const { error, run } = useSubmit();
  if (invites.length === 0) return <p class="muted">{t('settings.noPending')}</p>;
  return (
    <>
      <div class="table-scroll" tabIndex={0} role="region" aria-labelledby="pending-h">
        <table class="people" data-testid="pending">
          <thead>
            <tr>
              <th scope="col">{t('settings.colRole')}</th>
              <th scope="col">{t('settings.colCities')}</th>
              <th scope="col">{t('settings.colExpires')}</th>
              {isAdmin && <th scope="col">{t('settings.colActions')}</th>}
            </tr>
          </thead>
          <tbody>
            {invites.map((m) => (
              <tr key={m.device} data-testid="pending-invite" data-key={m.device}>
                <td>{roleLabel(m.role)}</td>
                <td>{cityNames(m.scope, cities)}</td>
                <td>{fmt.dateTime(m.inviteExpires)}</td>
                {isAdmin && (
                  <td>
                    <button
                      type="button"
                      class="small"
                      data-testid="revoke"
                      aria-label={t('settings.revokeOf', {
                        role: roleLabel(m.role),
                        when: fmt.dateTime(m.inviteExpires),
                      })}
                      onClick={() => run(() => getDb().revokeInvite(space, m.device))}
                    >
                      {t('settings.revoke')}
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <FormError error={error} />
    </>
  );
}

function People({ space, me, isAdmin, members, cities }) {
  const names = useAuthors(space);
  const people = members.filter((m) => !m.inviteExpires);
  const invites = members.filter((m) => m.inviteExpires).sort((a, b) => a.inviteExpires - b.inviteExpires);
  // Admins first, then by name.
  const rank = (m) => ROLES.length - ROLES.indexOf(m.role);
  const nameOf = (m) => names.get(m.device) || '';
  people.sort((a, b) => rank(a) - rank(b) || nameOf(a).localeCompare(nameOf(b)) || a.device.localeCompare(b.device));
  return (
    <section class="card" aria-labelledby="people-h" data-testid="people">
      <h2 id="people-h" tabIndex={-1}>
        {t('settings.people')}
      </h2>
      <p class="muted" id="people-count">
        {t('settings.peopleCount', { count: people.length })}
      </p>
      <div class="table-scroll" tabIndex={0} role="region" aria-labelledby="people-count">
        <table class="people">
          <thead>
            <tr>
              <th scope="col">{t('settings.colName')}</th>
              <th scope="col">{t('settings.colRole')}</th>
              <th scope="col">{t('settings.colCities')}</th>
              <th scope="col">{t('settings.colLastSeen')}</th>
              {isAdmin && <th scope="col">{t('settings.colActions')}</th>}
            </tr>
          </thead>
          <tbody>
            {people.map((m) => (
              <MemberRow
                key={`${m.device}:${m.role}:${(m.scope || []).join()}`}
                space={space}
                m={m}
                name={nameOf(m)}
                isMe={m.device === me}
                isAdmin={isAdmin}
                cities={cities}
              />
            ))}
          </tbody>
        </table>
      </div>
      <h3 id="pending-h">{t('settings.pendingTitle')}</h3>
      <PendingInvites space={space} invites={invites} isAdmin={isAdmin} cities={cities} />
    </section>
  );
}

// ---- inviting -------------------------------------------------------------------------

const MAX_INVITES = 50;
const DAYS = [1, 7, 30, 90];

function Invite({ space, spaceName }) {
  const [role, setRole] = useState('editor');
  const [count, setCount] = useState('1');
  const [days, setDays] = useState('7');
  const [made, setMade] = useState(null);
  const { busy, error, setError, run } = useSubmit();
  const n = Number(count);
  const valid = Number.isInteger(n) && n >= 1 && n <= MAX_INVITES;
  const submit = async (e) => {
    e.preventDefault();
    if (!valid) return setError(t('settings.inviteCountRange', { max: MAX_INVITES }));
    const list = [];
    // One code per person: each is its own invite key, used once. (A city
    // scope is given once the person has joined: Change role.)
    const ok = await run(async () => {
      for (let i = 0; i < n; i++)
        list.push({ ...(await getDb().createInvite(space, role, Number(days) * 86400)), role });
    });
    if (list.length) setMade({ list, space: spaceName });
    return ok;
  };
  return (
    <>
      <section class="card" aria-labelledby="invite-h">
        <h2 id="invite-h">{t('settings.inviteTitle')}</h2>
        <p>{t('settings.inviteIntro')}</p>
        <form class="invite-form" onSubmit={submit} data-testid="invite-form" noValidate>
          <div class="invite-row">
            <RoleSelect id="invite-role" value={role} onChange={setRole} />
            <div class="field">
              <label for="invite-count">{t('settings.inviteCount')}</label>
              <input
                id="invite-count"
                type="number"
                min="1"
                max={MAX_INVITES}
                inputMode="numeric"
                value={count}
                onInput={(e) => setCount(e.currentTarget.value)}
              />
            </div>
            <div class="field">
              <label for="invite-days">{t('settings.inviteDays')}</label>
              <select id="invite-days" value={days} onChange={(e) => setDays(e.currentTarget.value)}>
                {DAYS.map((d) => (
                  <option key={d} value={String(d)}>
                    {t('settings.days', { count: d })}
                  </option>
                ))}
              </select>
            </div>
          </div>
          <FormError error={error} />
          <button type="submit" class="primary" disabled={busy}>
            {t('settings.makeInvites', { count: valid ? n : 1 })}
          </button>
        </form>
      </section>
      {made && <InviteSheet made={made} />}
    </>
  );
}

// The codes just made, one row per person: what the printed list shows
// (styles.css hides everything else when printing a page that holds one).
function InviteSheet({ made }) {
  const heading = useRef(null);
  useEffect(() => heading.current && heading.current.focus(), [made]);
  return (
    <section class="card print-sheet" aria-labelledby="sheet-h" data-testid="invite-sheet">
      <h2 id="sheet-h" tabIndex={-1} ref={heading}>
        {t('settings.invitesMade', { space: made.space })}
      </h2>
      <p>{t('settings.invitesMadeIntro')}</p>
      <table class="people invite-codes">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">{t('settings.colCode')}</th>
            <th scope="col">{t('settings.colRole')}</th>
            <th scope="col">{t('settings.colExpires')}</th>
          </tr>
        </thead>
        <tbody>
          {made.list.map((inv, i) => (
            <tr key={inv.key} data-testid="invite-code">
              <td>{fmt.number(i + 1)}</td>
              <td>
                <code class="key" dir="ltr" data-testid="code">
                  {inv.code}
                </code>
                <br />
                <a class="invite-link" dir="ltr" href={new URL(`#/join/${inv.code}`, location.href).href}>
                  {t('settings.inviteLink')}
                </a>
              </td>
              <td>{roleLabel(inv.role)}</td>
              <td>{fmt.dateTime(inv.expires)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="actions no-print">
        <button type="button" onClick={() => window.print()} data-testid="print">
          {t('settings.printList')}
        </button>
      </p>
    </section>
  );
}

// ---- the page -------------------------------------------------------------------------

export function Settings({ space }) {
  const lang = useLocale();
  const me = useQuery(null, (db) => db.device(), []).data;
  // Fresh on every change of the space: roles change under us.
  const spaces = useQuery(space, (db) => db.spaces(), [space]).data || [];
  const members = useQuery(space, (db) => (space ? db.members(space) : []), [space]);
  const cities = useCities(space, lang);
  // The node refusing this device the space (it was removed) outranks the
  // role this replica still holds: the removal itself never reaches it.
  const refused = (useSyncStatus().refused || []).includes(space);
  const held = spaces.find((s) => s.space === space);
  const mine = held && refused ? { ...held, role: 'none' } : held;
  const isAdmin = !!mine && mine.role === 'admin';
  const list = members.data || [];
  return (
    <div class="page settings">
      <h1>{t('settings.title')}</h1>
      <Profile me={me} mine={mine} entry={list.find((m) => m.device === me)} cities={cities} />
      <section class="card" aria-labelledby="spaces-h">
        <h2 id="spaces-h">{t('settings.spaces')}</h2>
        <ul class="plain">
          {spaces.map((s) => (
            <li key={s.space}>
              <button
                type="button"
                class="link"
                aria-pressed={s.space === space}
                onClick={() => setCurrentSpace(s.space)}
              >
                {s.name || s.space.slice(0, 8)}
              </button>{' '}
              <span class="muted">{roleLabel(s.role)}</span>
            </li>
          ))}
        </ul>
        <p>
          <a href="#/join/">{t('settings.joinAnother')}</a>
        </p>
      </section>
      {space && members.data && <People space={space} me={me} isAdmin={isAdmin} members={list} cities={cities} />}
      {isAdmin && <Invite space={space} spaceName={mine.name || space.slice(0, 8)} />}
    </div>
  );
}
