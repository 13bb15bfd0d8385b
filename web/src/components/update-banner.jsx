import { useEffect, useState } from 'preact/hooks';
import { t } from '../i18n.js';
import { onUpdateReady, applyUpdate } from '../pwa.js';

// Announces a downloaded new version: it is used on the next start, or now.
export function UpdateBanner() {
  const [ready, setReady] = useState(false);
  useEffect(() => onUpdateReady(setReady), []);
  if (!ready) return null;
  return (
    <div class="banner" role="status" data-testid="update-ready">
      <span>{t('common.updateReady')}</span>
      <button type="button" onClick={applyUpdate}>
        {t('common.updateNow')}
      </button>
    </div>
  );
}
