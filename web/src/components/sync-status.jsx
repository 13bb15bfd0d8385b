// The sync indicator shown on every page: offline / syncing / online, how
// many of this device's changes wait for the node, and the last sync time.
import { useEffect, useState } from 'preact/hooks';
import { t, fmt } from '../i18n.js';
import { useSyncStatus } from '../db.js';

export function SyncStatus() {
  const status = useSyncStatus();
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 30000); // keeps "2 minutes ago" honest
    return () => clearInterval(timer);
  }, []);
  const { state, pending, lastSync } = status;
  return (
    <div
      class={`sync sync-${state}`}
      role="status"
      aria-live="polite"
      data-testid="sync-status"
      data-state={state}
      data-pending={pending}
    >
      <span class="sync-dot" aria-hidden="true" />
      <span class="sync-state">{t(`common.sync_${state}`)}</span>
      {pending > 0 && <span class="sync-pending">{t('common.syncPending', { count: pending })}</span>}
      <span class="sync-last">
        {lastSync ? t('common.syncLast', { when: fmt.relative(lastSync) }) : t('common.syncNever')}
      </span>
    </div>
  );
}
