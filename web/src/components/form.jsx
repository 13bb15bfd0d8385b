// What every form of the app needs: busy/error state around an awaited
// submit, and the error shown next to the form.
import { useState } from 'preact/hooks';
import { errorText } from '../errors.js';

// busy/error of a form whose submit awaits `fn`; run() resolves to whether it
// succeeded. The error is a message (the form's own check) or an API error.
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (fn) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

// The error of a form, announced (role=alert); nothing without one.
export function FormError({ error }) {
  if (!error) return null;
  return (
    <p class="error" role="alert" data-testid="error">
      {typeof error === 'string' ? error : errorText(error)}
    </p>
  );
}
