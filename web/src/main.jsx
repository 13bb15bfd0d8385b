import { render } from 'preact';
import { App } from './app.jsx';
import { preferredLocale, setLocale } from './i18n.js';
import { registerServiceWorker } from './pwa.js';
import './styles.css';

registerServiceWorker();
setLocale(preferredLocale(), { remember: false }).then(() => {
  const root = document.getElementById('app');
  root.textContent = ''; // the boot placeholder: render() leaves nodes it did not create
  render(<App />, root);
});
