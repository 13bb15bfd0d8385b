// "Lessons learned" of a project's plan (issue 14, item 3): a translatable
// text on the project itself (field `lessons`, written in the reader's
// language like the plan's other texts), and "Publish as a best practice":
// a `practice` entity (docs/DATA_MODEL.md) linked to the project by its
// `project` reference, its title, summary and outcome from a form prefilled
// from the project's title and the lessons, its sector, SDGs, tags, city,
// region and country copied from the project. One put each, so it works
// offline. Editors and admins write; everyone sees the published practices.
import { useState } from 'preact/hooks';
import { t, locale } from '../../i18n.js';
import { getDb, useQuery } from '../../db.js';
import { href } from '../../router.js';
import { hitTitle } from '../../fields.js';
import { str } from './items.js';
import { ItemField } from './fields.jsx';
import { EditCard } from './edit.jsx';
import { AddForm } from './add.jsx';
import { Section, focusHeading } from './section.jsx';
import '../matches.css';

// The fields of a practice published from `project` (a `get` result) with the
// form's values {title, summary, outcome} in `lang`.
// A text kept as prefilled stays in the language it was read in (the
// project's title or lessons may be shown in another language, the app's
// fallback); an edited one is in the reader's language.
// Region and country come from the project, else from its city (`city`, a
// `get` result or null).
export function practiceFromProject(project, v, lang, city = null) {
  const p = { ...(city ? { region: city.values.region, country: city.values.country } : {}), ...project.values };
  const localeOf = (field, from) => {
    const shown = project.translations && project.translations[from] && project.translations[from].shown;
    return shown && v[field] === str(p[from]).trim() ? shown : lang;
  };
  const ops = [
    { op: 'text', field: 'title', locale: localeOf('title', 'title'), value: v.title },
    { op: 'text', field: 'summary', locale: localeOf('summary', 'lessons'), value: v.summary },
    { op: 'set', field: 'project', value: project.id },
  ];
  for (const f of ['sector', 'city', 'region', 'country'])
    if (typeof p[f] === 'string' && p[f]) ops.push({ op: 'set', field: f, value: p[f] });
  if (v.outcome) ops.push({ op: 'set', field: 'outcome', value: v.outcome });
  for (const f of ['sdgs', 'tags'])
    for (const x of Array.isArray(p[f]) ? p[f] : []) ops.push({ op: 'add', field: f, value: x });
  return ops;
}

export function Lessons({ ctx, project, city }) {
  const lang = locale();
  const [publishing, setPublishing] = useState(false);
  const { data: published } = useQuery(
    ctx.space,
    (db) => db.find(ctx.space, { type: 'practice', where: { project: project.id }, lang, limit: 20, sort: 'updated' }),
    [project.id, lang],
  );
  const lessons = str(project.values.lessons).trim();
  const publish = async (v) => {
    const { id } = await getDb().put(ctx.space, 'practice', 'new', practiceFromProject(project, v, lang, city));
    setPublishing(false);
    focusHeading('lessons');
    return id;
  };
  return (
    <Section id="lessons" title={t('matching.lessonsTitle')} wide>
      <p class="hint" id="lessons-intro">
        {t('matching.lessonsIntro')}
      </p>
      {!lessons && !ctx.canEdit ? (
        <p class="plan-empty">{t('matching.lessonsEmptyRead')}</p>
      ) : (
        <div class="lessons-text" data-testid="lessons">
          <EditCard
            ctx={ctx}
            item={project}
            name={t('matching.lessonsTitle')}
            fields={[{ field: 'lessons', label: t('matching.lessonsTitle'), text: true, kind: 'textarea' }]}
          >
            <ItemField ctx={ctx} item={project} field="lessons" text multiline label={t('matching.lessonsTitle')} />
          </EditCard>
        </div>
      )}
      {published && published.hits.length > 0 && (
        <div class="lessons-published" data-testid="lessons-published">
          <p>{t('matching.published', { count: published.hits.length })}</p>
          <ul class="plain">
            {published.hits.map((h) => {
              const title = hitTitle(h.summary, lang);
              return (
                <li key={h.id}>
                  <a
                    href={href('entity', 'practice', h.id)}
                    lang={title?.lang || undefined}
                    dir="auto"
                    data-testid="published-practice"
                    data-id={h.id}
                  >
                    {title ? title.text : t('discover.untitled')}
                  </a>
                </li>
              );
            })}
          </ul>
        </div>
      )}
      {ctx.canEdit && lessons && !publishing && (
        <p>
          <button type="button" onClick={() => setPublishing(true)} data-testid="publish-open">
            {t('matching.publish')}
          </button>
        </p>
      )}
      {ctx.canEdit && !lessons && <p class="hint">{t('matching.lessonsFirst')}</p>}
      {ctx.canEdit && lessons && publishing && (
        <div id="publish-practice">
          <p class="hint">{t('matching.publishHint')}</p>
          <AddForm
            id="publish-form"
            title={t('matching.publish')}
            submitLabel={t('matching.publishSubmit')}
            autofocus
            onAdd={publish}
            onCancel={() => setPublishing(false)}
            fields={[
              {
                name: 'title',
                label: t('matching.practiceTitle'),
                required: true,
                initial: str(project.values.title).trim(),
              },
              {
                name: 'summary',
                label: t('matching.practiceSummary'),
                kind: 'textarea',
                required: true,
                initial: lessons,
              },
              { name: 'outcome', label: t('matching.practiceOutcome') },
            ]}
          />
        </div>
      )}
    </Section>
  );
}
