import { t } from '../i18n.js';
export function Discover() {
  return <div class="page"><h1>{t('common.nav_discover')}</h1></div>;
}
