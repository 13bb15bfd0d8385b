// The frame of a plan section (heading with a count, focus after a delete),
// its empty state, and the busy line of a loading page.
import { t, fmt } from '../../i18n.js';

// A section of the plan page. Its heading takes focus when an item's last
// control disappears (deleted), so keyboard users stay in the section.
export function Section({ id, title, count, children, wide = false }) {
  return (
    <section
      class={`card plan-section${wide ? ' plan-wide' : ''}`}
      aria-labelledby={`${id}-h`}
      data-testid={`section-${id}`}
    >
      <h2 id={`${id}-h`} tabIndex={-1}>
        {title} {count > 0 && <span class="plan-count">{fmt.number(count)}</span>}
      </h2>
      {children}
    </section>
  );
}

export function focusHeading(id) {
  const h = document.getElementById(`${id}-h`);
  if (h) h.focus();
}

// An empty state: what is missing and what to do about it.
export function Empty({ ctx, what, canAdd = ctx.canEdit }) {
  return <p class="plan-empty">{canAdd ? t(`plan.empty_${what}`) : t(`plan.emptyRead_${what}`)}</p>;
}

export function Busy({ text }) {
  return (
    <p role="status" class="busy">
      <progress aria-label={text} /> {text}
    </p>
  );
}
