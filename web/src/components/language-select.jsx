// The interface language picker (header and onboarding). `visible`: the label
// shows; otherwise it is for screen readers only.
import { t, LOCALES, locale, setLocale } from '../i18n.js';

export function LanguageSelect({ visible = false }) {
  return (
    <label class="lang">
      <span class={visible ? undefined : 'sr-only'}>{t('common.language')}</span>{' '}
      <select value={locale()} onChange={(e) => setLocale(e.currentTarget.value)} data-testid="language">
        {LOCALES.map((l) => (
          <option key={l.code} value={l.code} lang={l.bcp47 || l.code}>
            {l.name}
          </option>
        ))}
      </select>
    </label>
  );
}
