import { render } from 'preact';
import { App } from './app.jsx';
import { preferredLocale, setLocale } from './i18n.js';
import { registerServiceWorker } from './pwa.js';
import './styles.css';

registerServiceWorker();
setLocale(preferredLocale(), { remember: false }).then(() => render(<App />, document.getElementById('app')));
