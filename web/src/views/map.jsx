import { t } from '../i18n.js';
export function MapPage() {
  return <div class="page"><h1>{t('common.nav_map')}</h1></div>;
}
