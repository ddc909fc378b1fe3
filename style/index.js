import './base.css';
import './spark.css';
import './gpu.css';
import './sweep.css';
import './inputs.css';
