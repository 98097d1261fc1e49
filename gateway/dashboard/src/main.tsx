import { render } from 'preact';
import { SessionManager } from './api/session.ts';
import { App } from './components/App.tsx';
import './styles.css';

const root = document.getElementById('app');
if (!root) throw new Error('the page has no #app element');
render(<App sessions={new SessionManager()} />, root);
