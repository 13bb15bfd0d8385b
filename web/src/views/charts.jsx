import { t } from '../i18n.js';
export function ChartsPage() {
  return <div class="page"><h1>{t('common.nav_charts')}</h1></div>;
}
