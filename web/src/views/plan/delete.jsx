// Deleting a plan item: a tombstone, after a confirmation step.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../../i18n.js';
import { getDb } from '../../db.js';
import { FormError } from '../../components/form.jsx';

// Delete, then "Delete “X”?" with Delete / Cancel. `onDeleted` moves focus
// somewhere sensible (the button it was on is gone).
export function DeleteButton({ ctx, item, name, onDeleted }) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState(null);
  const yes = useRef(null);
  useEffect(() => {
    if (asking && yes.current) yes.current.focus();
  }, [asking]);
  if (!ctx.canEdit) return null;
  const remove = async () => {
    setError(null);
    try {
      await getDb().remove(ctx.space, item.type, item.id);
      if (onDeleted) onDeleted();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div class="plan-delete">
      {asking ? (
        <div role="group" aria-label={t('plan.confirmDelete', { name })} class="actions">
          <span>{t('plan.confirmDelete', { name })}</span>
          <button type="button" class="small danger" ref={yes} onClick={remove} data-testid="confirm-delete">
            {t('common.delete')}
          </button>
          <button type="button" class="small" onClick={() => setAsking(false)}>
            {t('common.cancel')}
          </button>
        </div>
      ) : (
        <button
          type="button"
          class="small"
          onClick={() => setAsking(true)}
          aria-label={t('plan.deleteItem', { name })}
          data-testid="delete"
        >
          {t('common.delete')}
        </button>
      )}
      <FormError error={error} />
    </div>
  );
}
