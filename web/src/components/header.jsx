import { t } from '../i18n.js';
import { LanguageSelect } from './language-select.jsx';
import { setCurrentSpace } from '../db.js';
import { SyncStatus } from './sync-status.jsx';
import { ActivityLink } from '../views/activity.jsx';

const NAV = [
  ['discover', '#/discover'],
  ['map', '#/map'],
  ['charts', '#/charts'],
  ['plan', '#/plan'],
  ['questionnaires', '#/questionnaires', 'questionnaire.nav'],
  ['settings', '#/settings'],
];

export function Header({ route, spaces, space }) {
  const active = ['entity', 'new', 'edit'].includes(route.name)
    ? 'discover'
    : route.name === 'questionnaire'
      ? 'questionnaires'
      : route.name;
  return (
    <header class="top">
      <div class="top-row">
        <a class="brand" href="#/discover">
          <img src="icons/icon-192.png" alt="" width="28" height="28" />
          <span>Urbis</span>
        </a>
        <nav aria-label={t('common.mainNav')}>
          <ul>
            {NAV.map(([name, to, key]) => (
              <li key={name}>
                <a href={to} aria-current={active === name ? 'page' : undefined}>
                  {key ? t(key) : t(`common.nav_${name}`)}
                </a>
              </li>
            ))}
            {space && (
              <li>
                <ActivityLink space={space} current={active === 'activity'} />
              </li>
            )}
          </ul>
        </nav>
        <div class="top-tools">
          <SyncStatus />
          <LanguageSelect />
        </div>
      </div>
      {spaces.length > 1 && (
        <div class="space-row">
          <label>
            {t('common.space')}{' '}
            <select value={space} onChange={(e) => setCurrentSpace(e.currentTarget.value)}>
              {spaces.map((s) => (
                <option key={s.space} value={s.space}>
                  {s.name || s.space.slice(0, 8)}
                </option>
              ))}
            </select>
          </label>
        </div>
      )}
    </header>
  );
}
