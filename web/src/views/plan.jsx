import { t } from '../i18n.js';
export function PlanIndex() {
  return <div class="page"><h1>{t('common.nav_plan')}</h1></div>;
}
export function PlanPage() {
  return <div class="page"><h1>{t('common.nav_plan')}</h1></div>;
}
