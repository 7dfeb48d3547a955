package org.edgedistill.demo

import android.app.Activity
import android.graphics.Color
import android.os.Build
import android.os.Bundle
import android.text.SpannableString
import android.text.Spanned
import android.text.style.BackgroundColorSpan
import android.view.View
import android.view.WindowInsets
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.EditText
import android.widget.Spinner
import android.widget.TextView
import java.util.Locale
import org.edgedistill.demo.core.Classification
import org.edgedistill.demo.core.Entity
import org.edgedistill.demo.core.ModelCatalog
import org.edgedistill.demo.core.ModelChoice
import org.edgedistill.demo.core.Prediction
import org.edgedistill.demo.core.Text

/**
 * One screen: pick a bundled model, type a sentence, see the label with its probabilities (or the
 * entities, highlighted in the text) and the inference time. Models run on [ModelStore.worker],
 * never on the UI thread.
 */
class MainActivity : Activity() {
    private lateinit var picker: Spinner
    private lateinit var modelInfo: TextView
    private lateinit var input: EditText
    private lateinit var runButton: Button
    private lateinit var status: TextView
    private lateinit var highlighted: TextView
    private lateinit var result: TextView
    private lateinit var timing: TextView

    private var selected: ModelChoice? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        picker = findViewById(R.id.model_picker)
        modelInfo = findViewById(R.id.model_info)
        input = findViewById(R.id.input)
        runButton = findViewById(R.id.run)
        status = findViewById(R.id.status)
        highlighted = findViewById(R.id.highlighted)
        result = findViewById(R.id.result)
        timing = findViewById(R.id.timing)
        padForSystemBars(findViewById(R.id.root))
        runButton.setOnClickListener { predict() }
        runButton.isEnabled = false
        ModelStore.worker.execute {
            val found = ModelStore.catalog(this)
            runOnUiThread { if (!isDestroyed) showCatalog(found) }
        }
    }

    private fun showCatalog(found: ModelCatalog) {
        val problems = found.problems().joinToString("\n")
        if (found.choices().isEmpty()) {
            status.text = listOf(getString(R.string.no_models), problems).filter { it.isNotEmpty() }.joinToString("\n\n")
            return
        }
        status.text = problems
        val titles = found.choices().map { it.title() }
        picker.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, titles)
        val preferred = found.choose(getPreferences(MODE_PRIVATE).getString(LAST_MODEL, null))
        picker.setSelection(found.choices().indexOf(preferred))
        picker.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) {
                select(found.choices()[position])
            }

            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
    }

    private fun select(choice: ModelChoice) {
        selected = choice
        getPreferences(MODE_PRIVATE).edit().putString(LAST_MODEL, choice.name()).apply()
        val manifest = choice.manifest()
        modelInfo.text = listOfNotNull(manifest.displayName(), "labels: ${manifest.labels().joinToString(", ")}",
            "max_length ${manifest.maxLength()}").joinToString(" · ")
        clearResult()
        if (ModelStore.isLoaded(choice)) {
            runButton.isEnabled = true
            return
        }
        runButton.isEnabled = false
        status.text = getString(R.string.loading, choice.name())
        ModelStore.worker.execute { // create the session now, so the first Run is not slowed by it
            val started = System.nanoTime()
            val outcome = runCatching { ModelStore.predictor(choice) }
            val millis = (System.nanoTime() - started) / 1e6
            runOnUiThread {
                if (isDestroyed || selected !== choice) return@runOnUiThread
                runButton.isEnabled = outcome.isSuccess
                status.text = outcome.fold({ getString(R.string.loaded, choice.name(), millis) }, ::describe)
            }
        }
    }

    private fun predict() {
        val choice = selected ?: return
        val text = input.text.toString()
        runButton.isEnabled = false
        status.text = getString(R.string.running)
        ModelStore.worker.execute {
            val outcome = runCatching { ModelStore.predictor(choice).predict(text) }
            runOnUiThread {
                if (isDestroyed) return@runOnUiThread
                runButton.isEnabled = true
                outcome.fold({ show(text, it, choice) }, { status.text = describe(it) })
            }
        }
    }

    private fun show(text: String, prediction: Prediction, choice: ModelChoice) {
        status.text = if (prediction.truncated()) getString(R.string.truncated, choice.manifest().maxLength()) else ""
        timing.text = getString(R.string.timing, prediction.inferenceMillis())
        val classification = prediction.classification()
        if (classification != null) {
            highlighted.text = ""
            result.text = formatClassification(classification)
        } else {
            highlighted.text = highlight(text, prediction.entities())
            result.text = formatEntities(prediction.entities())
        }
    }

    private fun formatClassification(classification: Classification): String {
        val width = classification.probabilities().keys.maxOf { it.length }
        val rows = classification.probabilities().entries.sortedByDescending { it.value }.joinToString("\n") {
            val bar = "█".repeat((it.value * 20).toInt())
            String.format(Locale.ROOT, "%-${width}s  %.3f  %s", it.key, it.value, bar)
        }
        return "${classification.label()}\n\n$rows"
    }

    private fun formatEntities(entities: List<Entity>): String {
        if (entities.isEmpty()) return getString(R.string.no_entities)
        return entities.joinToString("\n") {
            // offsets in code points, as the Python runtime reports them; the highlight uses UTF-16 ones
            String.format(Locale.ROOT, "%-5s %-24s [%d, %d)  %.3f", it.label(), "'${it.text().trim()}'",
                it.codePointStart(), it.codePointEnd(), it.score())
        }
    }

    /** The input with each entity's span coloured: Entity.start()/end() are UTF-16 indices, as spans need. */
    private fun highlight(text: String, entities: List<Entity>): CharSequence {
        val spannable = SpannableString(Text.clean(text))
        for (entity in entities) {
            val colour = ENTITY_COLOURS[Math.floorMod(entity.label().hashCode(), ENTITY_COLOURS.size)]
            spannable.setSpan(BackgroundColorSpan(colour), entity.start(), entity.end(), Spanned.SPAN_EXCLUSIVE_EXCLUSIVE)
        }
        return spannable
    }

    private fun clearResult() {
        highlighted.text = ""
        result.text = ""
        timing.text = ""
    }

    private fun describe(error: Throwable): String =
        getString(R.string.error, error.message ?: error.javaClass.simpleName)

    /**
     * From Android 15 an app targeting SDK 35 draws edge to edge: keep the content clear of the status
     * bar, the navigation bar and the keyboard. Older versions lay the window out as before.
     */
    private fun padForSystemBars(root: View) {
        if (Build.VERSION.SDK_INT < Build.VERSION_CODES.VANILLA_ICE_CREAM) return
        root.setOnApplyWindowInsetsListener { view, insets ->
            val bars = insets.getInsets(WindowInsets.Type.systemBars() or WindowInsets.Type.ime())
            view.setPadding(bars.left, bars.top, bars.right, bars.bottom)
            insets
        }
    }

    private companion object {
        const val LAST_MODEL = "last_model"
        val ENTITY_COLOURS = intArrayOf(
            Color.rgb(255, 224, 130), Color.rgb(165, 214, 167), Color.rgb(144, 202, 249), Color.rgb(244, 143, 177),
        )
    }
}
