// The app: onboarding until this device has an unlocked identity and a space,
// then the header (navigation, sync status, language) and the page of the
// current route.
import { useEffect, useState } from 'preact/hooks';
import { t, useLocale } from './i18n.js';
import {
  openDb,
  chooseSpace,
  setCurrentSpace,
  useSpace,
  ensureProfile,
  identityHintSet,
  setIdentityHint,
  useSyncStatus,
  useQuery,
} from './db.js';
import { useRoute, navigate } from './router.js';
import { errorText } from './errors.js';
import { Onboarding } from './views/onboarding.jsx';
import { Header } from './components/header.jsx';
import { UpdateBanner } from './components/update-banner.jsx';
import { Discover } from './views/discover.jsx';
import { EntityPage } from './views/entity.jsx';
import { IntakePage } from './views/intake.jsx';
import { PlanIndex } from './views/plan/projects.jsx';
import { PlanPage } from './views/plan/project.jsx';
import { MapPage } from './views/map.jsx';
import { ChartsPage } from './views/charts.jsx';
import { Settings } from './views/settings.jsx';
import { QuestionnairePages } from './views/questionnaires.jsx';
import { ActivityPage } from './views/activity.jsx';

// Onboarding steps: 'loading' | 'create' | 'unlock' | 'join' | 'ready' | 'failed'
export function App() {
  useLocale();
  const route = useRoute();
  // A browser that held an identity before shows the unlock form at once: the
  // worker (wasm module, IndexedDB) starts while the person types, and the
  // submit waits for it. Others wait to learn whether there is an identity.
  const [step, setStep] = useState(() => (identityHintSet() ? 'unlock' : 'loading'));
  const [error, setError] = useState(null);
  const [spaces, setSpaces] = useState([]);
  const space = useSpace();

  useEffect(() => {
    openDb().then(
      (db) => {
        setIdentityHint(db.hasIdentity);
        setStep(db.hasIdentity ? 'unlock' : 'create');
      },
      (e) => {
        setError(e);
        setStep('failed');
      },
    );
  }, []);

  // Each space this device works in gets its profile (name shown to others).
  useEffect(() => {
    if (step === 'ready' && space) ensureProfile(space).catch((e) => console.warn('profile not written:', e.message));
  }, [step, space]);

  // After unlock or a join: find the spaces; none means the join step.
  const enter = async () => {
    const r = await chooseSpace();
    setSpaces(r.spaces);
    if (r.space) {
      setCurrentSpace(r.space);
      setStep('ready');
    } else setStep('join');
  };

  // A join link (#/join/CODE) while already set up: join that space too.
  const joinCode = route.name === 'join' ? route.parts[0] || '' : '';

  if (step === 'failed')
    return (
      <>
        <UpdateBanner />
        <main id="main" class="center">
          <h1>{t('common.startFailed')}</h1>
          <p class="error" role="alert">
            {errorText(error)}
          </p>
          <button type="button" onClick={() => location.reload()}>
            {t('common.retry')}
          </button>
        </main>
      </>
    );
  if (step === 'loading')
    return (
      <main id="main" class="center">
        <p role="status" class="busy">
          {t('common.loading')}
        </p>
      </main>
    );
  if (step !== 'ready' || (joinCode && route.name === 'join'))
    return (
      <>
        <UpdateBanner />
        <Onboarding
          key={joinCode}
          step={step === 'ready' ? 'join' : step}
          code={joinCode}
          canCancel={step === 'ready'}
          onDone={async () => {
            if (route.name === 'join') navigate('#/discover', { replace: true });
            await enter();
          }}
        />
      </>
    );

  let page;
  switch (route.name) {
    case 'entity':
      page = <EntityPage space={space} type={route.parts[0]} id={route.parts[1]} />;
      break;
    case 'new':
      page = <IntakePage key={`new/${route.parts[0]}`} space={space} type={route.parts[0]} />;
      break;
    case 'edit':
      page = <IntakePage key={`edit/${route.parts[1]}`} space={space} type={route.parts[0]} id={route.parts[1]} />;
      break;
    case 'plan':
      page = route.parts[0] ? <PlanPage space={space} project={route.parts[0]} /> : <PlanIndex space={space} />;
      break;
    case 'map':
      page = <MapPage space={space} />;
      break;
    case 'charts':
      page = <ChartsPage space={space} />;
      break;
    case 'activity':
      page = <ActivityPage space={space} />;
      break;
    case 'questionnaires':
    case 'questionnaire':
      page = <QuestionnairePages space={space} route={route} />;
      break;
    case 'settings':
      page = <Settings space={space} spaces={spaces} onSpaces={enter} />;
      break;
    default:
      page = <Discover space={space} query={route.query} />;
  }
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        {t('common.skipToContent')}
      </a>
      <UpdateBanner />
      <Header route={route} spaces={spaces} space={space} />
      <main id="main" tabIndex={-1}>
        <LostAccess space={space} />
        {page}
      </main>
    </>
  );
}

// This device lost access to the current space: the node refused it
// (NotAMember, the sync status' `refused`), or the removal reached this
// device (its role is none). What is here stays readable.
function LostAccess({ space }) {
  const status = useSyncStatus();
  const { data: spaces } = useQuery(space, (db) => db.spaces(), [space]);
  const role = spaces ? spaces.find((s) => s.space === space)?.role : undefined;
  if (!space || !((status.refused || []).includes(space) || role === 'none')) return null;
  return (
    <p class="notice-lost" role="alert" data-testid="lost-access">
      {t('settings.lostAccess')}
    </p>
  );
}
