import { t } from '../i18n.js';
export function EntityPage() {
  return <div class="page"><h1>{t('common.nav_discover')}</h1></div>;
}
