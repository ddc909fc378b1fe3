import './base.css';
import './spark.css';
